"""The setup of docs/users.rst, complete: ``flask --app users_app run --debug``."""

import os

from flask import Flask
from flask import render_template_string
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo import cuid

db = SQLAlchemy()


class User(UserMixin, db.Model):
    id: Mapped[str] = mapped_column(String(25), primary_key=True, default=cuid)


app = Flask(__name__)
app.config.update(
    # For CSRF tokens; in production a long random string from the environment.
    SECRET_KEY=os.environ.get("SECRET_KEY", "dev only"),
    SQLALCHEMY_DATABASE_URI="sqlite:///site.db",  # in the instance folder
    RIVO_SITE_NAME="Ann's Shop",  # in page titles and emails
    # No MAIL_SERVER: in debug mode (flask run --debug) emails are printed
    # in the terminal, links and all. In production, set MAIL_SERVER (and
    # MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME, MAIL_PASSWORD,
    # MAIL_DEFAULT_SENDER) and RIVO_EXTERNAL_URL="https://shop.example.com".
)
db.init_app(app)
CSRFProtect(app)
RivoUsers(app, user_model=User, db_session=db.session)

with app.app_context():
    db.create_all()  # the user table; with migrations, see "The user table"


@app.route("/")  # where log-in lands (RIVO_LOGIN_REDIRECT)
def index() -> str:
    return render_template_string(
        """{% extends "rivo/base.html" %}
        {% block content %}
          {% if current_user.is_authenticated %}
            <p>Hello, {{ current_user.email }}.</p>
          {% else %}
            <p><a href="{{ url_for('rivo_users.signup') }}">Sign up</a> or
            <a href="{{ url_for('rivo_users.login') }}">log in</a>.</p>
          {% endif %}
        {% endblock %}"""
    )
