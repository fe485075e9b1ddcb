// The intake form's map: picks the home's point on a Leaflet map into the #lat / #lon
// inputs (which work alone without JavaScript). Tiles come from the MAP_TILE_URL setting
// (the #pick-map element's data-tiles); without one the map is a blank canvas that still
// takes a click. A file, not an inline script: the Content-Security-Policy allows no other.
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("pick-map");
  if (!el || typeof L === "undefined") { return; }
  var lat = document.getElementById("lat"), lon = document.getElementById("lon");
  var start = [parseFloat(lat.value) || parseFloat(el.dataset.lat), parseFloat(lon.value) || parseFloat(el.dataset.lon)];
  var map = L.map(el).setView(start, 16);
  if (el.dataset.tiles) {
    L.tileLayer(el.dataset.tiles, {maxZoom: 19, attribution: el.dataset.attribution || ""}).addTo(map);
  }
  // The community's own point, for bearings when no map tiles are configured.
  L.circleMarker([parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)], {radius: 4, color: "#5b6776", weight: 1})
    .bindTooltip(el.dataset.label, {permanent: true, direction: "right"}).addTo(map);
  var marker = null;
  function place(latlng) {
    if (marker) { marker.setLatLng(latlng); } else { marker = L.circleMarker(latlng, {radius: 9}).addTo(map); }
  }
  if (lat.value && lon.value) { place(start); }
  map.on("click", function (ev) {
    lat.value = ev.latlng.lat.toFixed(6);
    lon.value = ev.latlng.lng.toFixed(6);
    place(ev.latlng);
  });
  function typed() {
    var a = parseFloat(lat.value), b = parseFloat(lon.value);
    if (!isNaN(a) && !isNaN(b)) { place([a, b]); map.panTo([a, b]); }
  }
  lat.addEventListener("change", typed);
  lon.addEventListener("change", typed);
});
