// kipthoi desk: live countdowns for the limits on a page (progressive: the server already wrote
// the time left; this only keeps it current). No third-party code, no build step.
(function () {
  "use strict";
  var vi = document.documentElement.lang !== "en";
  function text(seconds) {
    var late = seconds < 0, s = Math.abs(Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    var amount = d ? (vi ? d + " ngày " + h + " giờ" : d + " d " + h + " h")
      : h ? (vi ? h + " giờ " + m + " phút" : h + " h " + m + " min")
      : (vi ? m + " phút" : m + " min");
    return late ? (vi ? "quá hạn " : "overdue by ") + amount : (vi ? "còn " : "") + amount + (vi ? "" : " left");
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("data-due")) - now) / 1000;
      el.textContent = text(left);
      if (left < 0) { el.classList.add("bad"); }
    });
  }
  setInterval(tick, 30000);
})();
