/* kipthoi: a report typed on a weak connection is never lost and never filed twice.
 *
 * For each <form data-draft="name">: the fields are kept in localStorage as they are typed and
 * put back when the page opens again; the form is sent with fetch(), and when the connection
 * drops the same fields — with the same idempotency_key, which the server turns into the
 * API's Idempotency-Key — are sent again when it returns (the `online` event, and a backoff).
 * A resend of a request that did arrive is answered with the first case, never a second one.
 * The draft is cleared once the server's redirect lands on the form's `data-done` path.
 *
 * Never stored: the CSRF token (the page's own is used at each send). Without this script,
 * or without fetch, the form posts as plain HTML. No build step, no third-party code. */
(function () {
  "use strict";

  var PREFIX = "kipthoi.draft.";
  var KEY_FIELD = "idempotency_key";
  var MAX_WAIT = 60000;

  function storage() {
    try {
      var probe = PREFIX + "probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return window.localStorage;
    } catch (e) {
      return null; // private mode, storage full or refused: the form still posts
    }
  }

  function kept(el) {
    if (!el.name || el.name === "csrf" || el.disabled && !el.dataset.draftLocked) return false;
    if (el.type === "hidden") return el.name === KEY_FIELD;
    return !/^(submit|button|reset|file|image)$/.test(el.type);
  }

  function collect(form) {
    var fields = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
      fields.push([el.name, el.value]);
    });
    return fields;
  }

  function setup(form, store, quiet) {
    var name = PREFIX + form.getAttribute("data-draft");
    var done = form.getAttribute("data-done");
    var status = form.querySelector("[data-draft-status]");
    var note = form.querySelector("[data-draft-note]") || status;
    var button = form.querySelector("button[type=submit], button:not([type])");
    var msg = function (k) { return form.getAttribute("data-msg-" + k) || ""; };
    var pending = null; // the fields being sent, until the server has answered
    var sending = false;
    var wait = 2000;
    var timer = null;

    function read() {
      try { return JSON.parse(store.getItem(name) || "null"); } catch (e) { return null; }
    }
    function write(fields, isPending) {
      try {
        store.setItem(name, JSON.stringify({ v: 1, fields: fields, pending: isPending, saved: Date.now() }));
      } catch (e) { /* full: the page still holds what was typed */ }
    }
    function clear() { store.removeItem(name); }

    // Beside the button, where the person who pressed it is looking; a problem as an alert.
    function say(text, problem) {
      if (!status) return;
      status.textContent = text;
      status.className = problem ? "alert" : "note";
      status.hidden = !text;
    }

    // At the top of the form: what was put back, and the way to throw it away.
    function told(text) {
      if (!note) return;
      note.textContent = text;
      note.hidden = false;
      var discard = document.createElement("button");
      discard.type = "button";
      discard.className = "link";
      discard.textContent = msg("discard");
      discard.addEventListener("click", function () {
        clear();
        window.location.reload();
      });
      note.appendChild(document.createTextNode(" "));
      note.appendChild(discard);
    }

    // While a report is on its way its fields stay as sent: an edit now would be a different
    // report under the same key.
    function lock(on) {
      Array.prototype.forEach.call(form.elements, function (el) {
        if (el === button || el.type === "hidden") return;
        if (on && !el.disabled) { el.disabled = true; el.dataset.draftLocked = "1"; }
        if (!on && el.dataset.draftLocked) { el.disabled = false; delete el.dataset.draftLocked; }
      });
    }

    function restore(draft) {
      var byName = {};
      draft.fields.forEach(function (f) { (byName[f[0]] = byName[f[0]] || []).push(f[1]); });
      Array.prototype.forEach.call(form.elements, function (el) {
        if (!kept(el)) return;
        // A draft's key is put back only if it was sent: that send may have arrived, and its
        // resend must be recognised. A draft never sent goes out under the page's fresh key.
        if (el.name === KEY_FIELD && !draft.pending) return;
        var values = byName[el.name];
        if (el.type === "checkbox" || el.type === "radio") {
          el.checked = !!values && values.indexOf(el.value) >= 0;
        } else if (values) {
          el.value = values[0];
        } else if (el.tagName !== "SELECT") {
          el.value = "";
        }
      });
      Array.prototype.forEach.call(form.querySelectorAll("details"), function (d) {
        if (d.querySelector("input:checked")) d.open = true;
      });
    }

    function later() {
      if (timer) window.clearTimeout(timer);
      timer = window.setTimeout(send, wait);
      wait = Math.min(wait * 2, MAX_WAIT);
    }

    function landed(url) {
      try { return new URL(url, window.location.href).pathname === done; } catch (e) { return false; }
    }

    function answered(response) {
      if (response.redirected && response.ok && landed(response.url)) {
        clear();
        window.location.assign(response.url);
        return;
      }
      if (response.redirected) {
        // Elsewhere (the login page, a session ended meanwhile): the report stays pending
        // and goes out again from the form once the person is back.
        window.location.assign(response.url);
        return;
      }
      if (response.status >= 500 || response.status === 429) {
        sending = false;
        say(msg("retry"), true);
        later();
        return;
      }
      // The server's own answer (the form with its errors, a refusal): nothing was filed, and
      // the page it sent replaces this one, the draft kept for it.
      return response.text().then(function (html) {
        pending = null;
        write(collect(form), false);
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.title = doc.title;
        document.body.replaceWith(document.adoptNode(doc.body));
        start(true);
        var alert = document.querySelector("[role=alert]");
        if (alert && alert.scrollIntoView) alert.scrollIntoView();
      });
    }

    function send() {
      if (!pending || sending) return;
      if (timer) { window.clearTimeout(timer); timer = null; }
      sending = true;
      say(msg("sending"));
      var body = new URLSearchParams();
      pending.forEach(function (f) { body.append(f[0], f[1]); });
      body.set("csrf", form.elements.csrf ? form.elements.csrf.value : "");
      window.fetch(form.action, {
        method: "POST", body: body, credentials: "same-origin", redirect: "follow",
        headers: { "Accept": "text/html" }
      }).then(function (response) {
        return answered(response);
      }, function () {
        sending = false;
        say(msg("offline"), true);
        later();
      });
    }

    var draft = read();
    if (draft && draft.v === 1 && Array.isArray(draft.fields)) {
      restore(draft);
      if (draft.pending) {
        pending = collect(form);
        lock(true);
        say(msg("offline"), true);
        send();
      } else {
        if (!quiet) told(msg("restored"));
      }
    }

    function save() { if (!pending) write(collect(form), false); }
    form.addEventListener("input", save);
    form.addEventListener("change", save);

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pending) {
        pending = collect(form);
        write(pending, true);
        lock(true);
      }
      wait = 2000;
      send();
    });

    window.addEventListener("online", function () { wait = 2000; send(); });
  }

  function start(quiet) {
    if (!window.fetch || !window.URLSearchParams || !window.DOMParser) return;
    var store = storage();
    if (!store) return;
    Array.prototype.forEach.call(document.querySelectorAll("form[data-draft]"), function (form) {
      setup(form, store, !!quiet);
    });
  }

  start(false);
})();
