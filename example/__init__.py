"""A small demo shop that keeps its cart in a flask_rivo server-side session."""
