/* LeadLoop form embed: binds (or renders) a form, captures UTM, referrer, landing page and a
   first-party visitor id, tracks the page view, and submits with fetch. */
(function () {
  "use strict";
  var C = __LEADLOOP_CONFIG__;
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var started = Date.now();

  function store(name, value) {
    try { if (value && !sessionStorage.getItem(name)) sessionStorage.setItem(name, value); }
    catch (e) { /* storage blocked: keep going without first-touch memory */ }
    try { return sessionStorage.getItem(name) || value; } catch (e) { return value; }
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "v" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
  }
  function visitorId() {
    var m = document.cookie.match(/(?:^|; )ll_vid=([A-Za-z0-9-]{8,100})/);
    var id = m ? m[1] : uuid();
    document.cookie = "ll_vid=" + id + "; Max-Age=31536000; Path=/; SameSite=Lax";
    return id;
  }
  var params = new URLSearchParams(location.search);
  var context = { _visitor_id: visitorId(),
                  _referrer: store("ll_referrer", document.referrer || ""),
                  _landing_page: store("ll_landing_page", location.href) };
  UTM.forEach(function (name) { context[name] = store("ll_" + name, params.get(name) || ""); });

  function post(path, body, extraHeaders) {
    var headers = { "content-type": "application/json", "accept": "application/json",
                    "x-form-key": C.key };
    for (var h in extraHeaders) headers[h] = extraHeaders[h];
    return fetch(C.endpoint + "/v1/forms/" + C.formId + path,
                 { method: "POST", headers: headers, body: JSON.stringify(body),
                   keepalive: true, credentials: "omit", mode: "cors" });
  }

  function render(container) {
    var form = document.createElement("form");
    C.fields.forEach(function (f) {
      var label = document.createElement("label");
      var input;
      if (f.type === "textarea") input = document.createElement("textarea");
      else if (f.type === "select") {
        input = document.createElement("select");
        f.options.forEach(function (o) {
          var opt = document.createElement("option"); opt.value = o; opt.textContent = o;
          input.appendChild(opt);
        });
      } else {
        input = document.createElement("input");
        input.type = { email: "email", phone: "tel", number: "number", url: "url",
                       checkbox: "checkbox", consent: "checkbox", hidden: "hidden" }[f.type] || "text";
      }
      input.name = f.name;
      if (f.required) input.required = true;
      label.textContent = (f.type === "consent" && C.consentText) ? C.consentText : (f.label || f.name);
      label.appendChild(input);
      form.appendChild(label);
    });
    var button = document.createElement("button");
    button.type = "submit"; button.textContent = "Submit";
    form.appendChild(button);
    container.appendChild(form);
    return form;
  }

  function bind(form) {
    if (C.honeypot && !form.elements[C.honeypot]) {
      var trap = document.createElement("input");
      trap.name = C.honeypot; trap.tabIndex = -1; trap.autocomplete = "off";
      trap.setAttribute("aria-hidden", "true");
      trap.style.cssText = "position:absolute;left:-10000px;width:1px;height:1px;opacity:0";
      form.appendChild(trap);
    }
    var attemptKey = null;
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = {};
      new FormData(form).forEach(function (value, name) {
        if (typeof value !== "string") return;
        if (name in body) body[name] = [].concat(body[name], value); else body[name] = value;
      });
      for (var k in context) body[k] = context[k];
      body._ts = C.token;
      attemptKey = attemptKey || uuid();  // the same key for retries of this attempt
      form.setAttribute("data-leadloop-state", "sending");
      post("/submissions", body, { "idempotency-key": attemptKey }).then(function (r) {
        return r.json().then(function (data) { return { status: r.status, data: data }; });
      }).then(function (result) {
        if (result.status >= 200 && result.status < 300) {
          attemptKey = null;
          form.setAttribute("data-leadloop-state", "done");
          form.dispatchEvent(new CustomEvent("leadloop:submitted", { detail: result.data, bubbles: true }));
          if (C.redirect) { location.assign(C.redirect); return; }
          var thanks = document.createElement("p");
          thanks.className = "leadloop-thanks";
          thanks.textContent = "Thank you!";
          form.replaceWith(thanks);
        } else {
          if (result.status !== 429) attemptKey = null;
          form.setAttribute("data-leadloop-state", "error");
          var errors = (result.data && result.data.errors) || [];
          var box = form.querySelector(".leadloop-errors") || document.createElement("ul");
          box.className = "leadloop-errors"; box.textContent = "";
          errors.forEach(function (e) {
            var li = document.createElement("li");
            li.textContent = e.field + ": " + e.reason;  // text, never markup
            box.appendChild(li);
          });
          form.appendChild(box);
        }
      }).catch(function () { form.setAttribute("data-leadloop-state", "error"); });
    });
  }

  function start() {
    var target = document.querySelector('[data-leadloop-form="' + C.formId + '"]');
    if (target) bind(target.tagName === "FORM" ? target : render(target));
    var view = {}; for (var k in context) view[k] = context[k];
    view.url = location.href;
    post("/activities", view, {}).catch(function () { /* tracking never breaks the page */ });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
