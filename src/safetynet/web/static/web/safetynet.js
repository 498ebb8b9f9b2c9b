// Small glue for htmx: show a readable message when a partial request fails
// (403 outside the user's rights, 404 outside the user's area), instead of doing nothing.
(function () {
  "use strict";
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("sn-error");
    if (!box) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    var text = box.dataset.failed;
    if (status === 403) text = box.dataset.forbidden;
    if (status === 404) text = box.dataset.notfound;
    box.textContent = text;
    box.classList.remove("d-none");
    window.setTimeout(function () { box.classList.add("d-none"); }, 6000);
  });
})();
