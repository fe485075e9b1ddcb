// The case file's map: the registered location, the visit's GPS point and each photo's
// point, drawn with the bundled Leaflet. With no tile server configured the points sit on
// a blank background, which is all an offline office needs to judge distances.
(function () {
  "use strict";
  function draw() {
    var el = document.getElementById("case-map");
    if (!el || typeof L === "undefined") return;
    var points = JSON.parse(el.dataset.points || "[]");
    if (!points.length) { el.classList.add("empty"); return; }
    var map = L.map(el, { scrollWheelZoom: false, attributionControl: !!el.dataset.tiles });
    if (el.dataset.tiles) {
      L.tileLayer(el.dataset.tiles, { maxZoom: 19, attribution: el.dataset.attribution || "" }).addTo(map);
    }
    var colours = { household: "#1b6e3a", visit: "#b3261e", photo: "#1f5fa8" };
    var bounds = [];
    points.forEach(function (p) {
      var marker = L.circleMarker([p.lat, p.lon], {
        radius: p.kind === "photo" ? 5 : 8, color: colours[p.kind] || "#333", weight: 2, fillOpacity: 0.6
      }).addTo(map);
      marker.bindTooltip(p.label);
      if (p.kind === "visit" && p.accuracy) {
        L.circle([p.lat, p.lon], { radius: p.accuracy, color: colours.visit, weight: 1, fillOpacity: 0.05 }).addTo(map);
      }
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length === 1) map.setView(bounds[0], 17);
    else map.fitBounds(bounds, { padding: [24, 24], maxZoom: 18 });
    el.dataset.ready = "true";
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
