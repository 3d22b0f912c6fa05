// Quiz Reports: small enhancements on top of htmx. No inline scripts: the CSP forbids them.
(function () {
  "use strict";

  function showNotice(message) {
    var box = document.getElementById("notices");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "notice notice-error";
    p.setAttribute("role", "alert");
    p.textContent = message;
    box.replaceChildren(p);
  }

  // A form posted without htmx (or before htmx loaded) is sent once, however often clicked.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (window.htmx && form.hasAttribute("hx-post")) return;
    if (form.dataset.submitted === "1") {
      event.preventDefault();
      return;
    }
    form.dataset.submitted = "1";
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitted]").forEach(function (form) {
      delete form.dataset.submitted;
    });
  });

  // An htmx request that failed: say why, in the words of the error page.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
      var heading = doc.querySelector("#error-heading");
      var message = doc.querySelector(".error-message");
      if (heading) text = heading.textContent.trim() + ". " + (message ? message.textContent.trim() : "");
    } catch (e) {
      text = "";
    }
    showNotice(text || "The server answered " + xhr.status + ". Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    showNotice("The server could not be reached. Check the connection and try again.");
  });

  // Typing a learner's name in the start form means "one learner".
  document.addEventListener("input", function (event) {
    if (event.target.id !== "learner" || !event.target.value) return;
    var one = document.querySelector('input[name="scope"][value="one"]');
    if (one) one.checked = true;
  });

  // A new API token's fields: selected whole on focus, and a Copy button where the clipboard
  // can be written (a secure page); without it the buttons stay hidden and people copy by hand.
  function enableCopy(root) {
    if (!navigator.clipboard || !window.isSecureContext) return;
    root.querySelectorAll("button[data-copy][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    enableCopy(document);
  });
  document.addEventListener("htmx:load", function (event) {
    enableCopy(event.detail.elt);
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) event.target.select();
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-copy]") : null;
    if (!button) return;
    var field = document.getElementById(button.dataset.copy);
    var panel = button.closest(".token-once") || document;
    var status = panel.querySelector("[data-copy-status]");
    if (!field) return;
    var what = button.textContent.replace(/^Copy\s*/, "") || "the text";
    if (status) status.textContent = ""; // so copying the same thing twice is announced twice
    navigator.clipboard.writeText(field.value).then(
      function () {
        if (status) status.textContent = "Copied " + what + " to the clipboard.";
      },
      function () {
        field.focus();
        field.select();
        if (status) status.textContent = "The browser did not allow copying: press Ctrl+C (⌘C) to copy the selected text.";
      }
    );
  });

  // An email's frame as tall as the email, so the page scrolls once and the frame never does.
  // The frame may be read (sandbox allow-same-origin) but runs nothing (no allow-scripts).
  function fitFrame(frame) {
    var doc = null;
    try {
      doc = frame.contentDocument;
    } catch (e) {
      doc = null;
    }
    // Not readable, or still the blank page before the email arrives: keep the CSS height.
    if (!doc || !doc.documentElement || doc.URL === "about:blank" || doc.readyState !== "complete") return;
    frame.classList.add("is-fitted");
    // Measured at no height, so a frame taller than its email shrinks back to it.
    frame.style.height = "0px";
    var borders = frame.offsetHeight - frame.clientHeight;
    frame.style.height = doc.documentElement.scrollHeight + borders + "px";
  }
  function fitFrames(root) {
    root.querySelectorAll("iframe.email-frame").forEach(fitFrame);
  }
  document.addEventListener(
    "load",
    function (event) {
      if (event.target.matches && event.target.matches("iframe.email-frame")) fitFrame(event.target);
    },
    true
  );
  document.addEventListener("DOMContentLoaded", function () {
    fitFrames(document);
  });
  var refit = 0;
  window.addEventListener("resize", function () {
    cancelAnimationFrame(refit);
    refit = requestAnimationFrame(function () {
      fitFrames(document);
    });
  });
})();
