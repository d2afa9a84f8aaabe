// The desk's few behaviours, without a framework: the search box keeps the focus for a USB card
// reader (it types the number and Enter), a confirmation page submits once, a receipt prints,
// and an intake's progress bar drives its application a chunk at a time.
(function () {
  "use strict";
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value;

  // A form submits once: a second click (or Enter) while the first is on its way does nothing.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (form) {
    form.addEventListener("submit", function (e) {
      if (form.dataset.sent) { e.preventDefault(); return; }
      form.dataset.sent = "1";
      Array.prototype.forEach.call(form.querySelectorAll("button[type=submit]"), function (b) { b.disabled = true; });
    });
  });

  var printButton = document.getElementById("print");
  if (printButton) {
    printButton.addEventListener("click", function () { window.print(); });
    if (location.hash === "#print") window.print();
  }

  var apply = document.getElementById("apply-form");
  if (apply) {
    apply.addEventListener("submit", function (e) {
      e.preventDefault();
      var bar = document.getElementById("progress"), label = document.getElementById("progress-label");
      var button = apply.querySelector("button[type=submit]");
      button.disabled = true;
      document.getElementById("progress-box").hidden = false;
      function step() {
        fetch(apply.action, {method: "POST", headers: {"X-CSRFToken": csrf, "Accept": "application/json"},
                             credentials: "same-origin"})
          .then(function (r) { return r.json().then(function (body) { return {ok: r.ok, body: body}; }); })
          .then(function (res) {
            if (!res.ok) { label.textContent = res.body.error || "!"; button.disabled = false; return; }
            var b = res.body;
            bar.max = Math.max(b.total, 1); bar.value = b.done;
            label.textContent = b.done + " / " + b.total;
            if (b.status === "done") { location.reload(); } else { step(); }
          })
          .catch(function () { label.textContent = apply.dataset.retry; button.disabled = false; });
      }
      step();
    });
  }
})();
