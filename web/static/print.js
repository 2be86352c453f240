// kipthoi print page: the button opens the browser's print dialog (which also saves a PDF).
(function () {
  "use strict";
  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
