/* flask_rivo passkeys: the browser's half of the WebAuthn ceremonies.
 *
 * A form marked data-rivo-passkey="register" or "login" gets its options
 * (JSON) from its data-options URL, with the page's CSRF token in the
 * X-CSRFToken header; asks the browser to make or use a passkey; puts the
 * answer, as JSON, in the form's hidden "credential" field, and submits the
 * form. The server (py_webauthn) checks everything.
 *
 * No build step, no inline script (CSP-friendly). Without WebAuthn the
 * passkey parts of the page stay hidden.
 */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(json) {
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    json.excludeCredentials = descriptors(json.excludeCredentials);
    return json;
  }

  function requestOptions(json) {
    json.challenge = toBytes(json.challenge);
    json.allowCredentials = descriptors(json.allowCredentials);
    return json;
  }

  /* The credential as the JSON py_webauthn reads (WebAuthn Level 3's
   * toJSON(), written out for browsers that lack it). */
  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) {
        out.response.transports = response.getTransports();
      }
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) {
        out.response.userHandle = toText(response.userHandle);
      }
    }
    return out;
  }

  function options(form) {
    return fetch(form.getAttribute("data-options"), {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRFToken": form.elements.csrf_token.value
      }
    }).then(function (reply) {
      if (reply.status === 401) {
        // Logged out, or the page now wants the password again: the
        // reloaded page says which.
        window.location.reload();
        return new Promise(function () {});
      }
      if (!reply.ok) {
        throw new Error("options: HTTP " + reply.status);
      }
      return reply.json();
    });
  }

  function showError(form, error) {
    var box = form.querySelector("[data-rivo-passkey-error]");
    if (!box) {
      return;
    }
    var cancelled = error && error.name === "NotAllowedError";
    box.textContent = form.getAttribute(cancelled ? "data-cancelled" : "data-failed");
    box.hidden = false;
  }

  function ceremony(form) {
    var kind = form.getAttribute("data-rivo-passkey");
    return options(form).then(function (json) {
      if (kind === "register") {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(json) });
    }).then(function (credential) {
      form.elements.credential.value = JSON.stringify(credentialJSON(credential));
      var remember = document.getElementById("remember");
      if (form.elements.remember && remember && remember.checked) {
        form.elements.remember.value = "y";
      }
      form.submit();
    });
  }

  function setUp(form) {
    var busy = false;
    form.addEventListener("submit", function (event) {
      if (form.elements.credential.value) {
        return;
      }
      event.preventDefault();
      if (busy) {
        return;
      }
      busy = true;
      ceremony(form).catch(function (error) {
        showError(form, error);
      }).then(function () {
        busy = false;
      });
    });
    var box = form.closest("[data-rivo-passkey-box]");
    (box || form).hidden = false;
  }

  document.querySelectorAll("form[data-rivo-passkey]").forEach(setUp);
})();
