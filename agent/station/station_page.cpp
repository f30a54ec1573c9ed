// SPDX-License-Identifier: Apache-2.0
// The station display's HTML: the list of stations, a station's page (CSS and script inline), error pages.
#include "station/station_page.hpp"

namespace mto {

namespace {

// High contrast on black, large type: read from a few metres on a cheap tablet, portrait or landscape.
constexpr std::string_view kStyle = R"CSS(
*{box-sizing:border-box}
html,body{margin:0;background:#000;color:#fff;font:20px/1.3 "DejaVu Sans",system-ui,sans-serif}
a{color:#7cc4ff}
header{display:flex;align-items:center;gap:12px;padding:10px 16px;background:#1a1a1a;border-bottom:2px solid #444}
header h1{font-size:34px;margin:0;flex:1;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
#live{font-size:18px;font-weight:700;padding:4px 10px;border-radius:6px;background:#555}
#live.on{background:#0a7d2c}
#updated{font-size:18px;color:#bbb}
main{display:grid;gap:14px;padding:14px;grid-template-columns:1fr}
@media (min-width:1100px){main{grid-template-columns:3fr 2fr}#scan-banner{grid-column:1/-1}}
#scan-banner{border-radius:12px;padding:14px 20px;background:#333;min-height:130px}
#scan-banner.accepted{background:#0b6b1f}
#scan-banner.refused{background:#d00000}
#scan-banner .verdict{font-size:60px;font-weight:800;letter-spacing:2px;line-height:1.1}
#scan-banner .why{font-size:34px;font-weight:700}
#scan-banner .meta{font-size:20px;margin-top:4px}
.card{background:#161616;border:2px solid #3c3c3c;border-radius:12px;padding:14px;margin-bottom:14px}
.card:last-child{margin-bottom:0}
.machine .top{display:flex;justify-content:space-between;align-items:center;gap:10px}
.machine .name{font-size:32px;font-weight:800}
.bay{font-size:24px;font-weight:800;padding:4px 12px;border-radius:8px;background:#2b2b2b;border:2px solid #777}
.bay.running{background:#1f5fbf;border-color:#1f5fbf}
.bay.awaiting_clear{background:#ffc400;border-color:#ffc400;color:#000}
.bay.needs_attention{background:#ff6f00;border-color:#ff6f00;color:#000}
.state{font-size:20px;color:#ccc;margin-top:4px}
.job{font-size:26px;margin:10px 0 8px}
.bar{height:40px;background:#4a4a4a;border-radius:6px;overflow:hidden}
.fill{height:100%;width:0;background:#00b4ff}
.pct{font-size:28px;font-weight:800;margin-top:6px}
.reason{font-size:24px;font-weight:700;color:#ffb74d;margin-top:8px}
#snapshot img{display:block;width:100%;height:360px;object-fit:contain;background:#222;border-radius:8px}
#snapshot .caption{font-size:20px;margin-top:6px}
.flags{color:#ffb74d;font-weight:800}
h2{font-size:24px;margin:0 0 8px;color:#ddd}
ol{list-style:none;margin:0;padding:0}
#scans li{font-size:22px;padding:6px 0;border-bottom:1px solid #333}
#scans li.accepted b{color:#4cd964}
#scans li.refused b{color:#ff6b6b}
#queue li{font-size:22px;padding:4px 0}
.rush{color:#000;background:#ffd600;font-weight:800;padding:0 6px;border-radius:4px}
.empty{color:#aaa}
.stations li{font-size:30px;padding:12px 0}
.stations small{display:block;font-size:20px;color:#bbb}
)CSS";

// Renders a snapshot (see stationSnapshot) with DOM calls only: every text from the agent goes through
// textContent, never through HTML.
constexpr std::string_view kScript = R"JS(
(function () {
  'use strict';
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function duration(s) {
    if (s === null || s === undefined || s < 0) return '';
    s = Math.round(s);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h) return h + ' h ' + pad(m) + ' min';
    if (m) return m + ' min ' + pad(r) + ' s';
    return r + ' s';
  }
  function clock(at) {
    var d = new Date(at);
    return isNaN(d) ? (at || '') : pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
  }
  var BAY = {ready: 'READY', running: 'RUNNING', awaiting_clear: 'CLEAR THE BED', needs_attention: 'NEEDS ATTENTION'};

  function renderBanner(scans) {
    var b = $('scan-banner'), last = scans[0];
    b.className = last ? (last.outcome === 'refused' ? 'refused' : 'accepted') : 'none';
    b.querySelector('.verdict').textContent = last ? (last.outcome === 'refused' ? 'REFUSED' : 'ACCEPTED') : 'NO SCANS YET';
    b.querySelector('.why').textContent = last ? last.message : 'Scan a traveler label or an action barcode.';
    b.querySelector('.meta').textContent = last ? [clock(last.at), 'scanner ' + last.scanner, last.raw,
      last.operator_id ? 'operator ' + last.operator_id : ''].filter(Boolean).join(' · ') : '';
  }

  function renderMachines(machines) {
    var box = $('machines');
    box.replaceChildren();
    if (!machines.length) box.append(el('div', 'card empty', 'No machines at this station.'));
    machines.forEach(function (m) {
      var c = el('div', 'card machine');
      c.dataset.id = m.id;
      c.dataset.bay = m.bay;
      var top = el('div', 'top');
      top.append(el('span', 'name', m.id), el('span', 'bay ' + m.bay, BAY[m.bay] || String(m.bay).toUpperCase()));
      c.append(top, el('div', 'state', m.capability + ' · ' + m.state + (m.detail ? ' — ' + m.detail : '')));
      if (m.job) {
        var j = m.job, p = Math.max(0, Math.min(100, j.percent | 0));
        c.append(el('div', 'job', j.order_id + ' / ' + j.item_id + ' · ' + j.operation + ' · unit ' + j.unit +
          (j.qty ? ' of ' + j.qty : '')));
        var bar = el('div', 'bar'), fill = el('div', 'fill');
        bar.setAttribute('role', 'progressbar');
        bar.setAttribute('aria-valuenow', p);
        fill.style.width = p + '%';
        bar.append(fill);
        var left = duration(j.seconds_left);
        c.append(bar, el('div', 'pct', p + ' %' + (left ? ' · ' + left + ' left' : '')));
      }
      if (m.reason) c.append(el('div', 'reason', m.reason));
      if (m.refused) c.append(el('div', 'reason', 'refuses ' + m.refused.jobs + ' job(s), last ' + m.refused.order_id +
        ' / ' + m.refused.item_id + ': ' + m.refused.reason));
      box.append(c);
    });
  }

  function renderSnapshot(s) {
    var box = $('snapshot'), img = box.querySelector('img'), cap = box.querySelector('.caption');
    cap.replaceChildren();
    if (!s) {
      img.hidden = true;
      img.removeAttribute('src');
      cap.textContent = 'No QC snapshot yet.';
      return;
    }
    img.hidden = false;
    if (img.getAttribute('src') !== s.url) img.src = s.url;
    img.alt = 'QC snapshot of ' + s.order_id + ' / ' + s.item_id;
    cap.append(el('span', '', s.order_id + ' / ' + s.item_id + ' · ' + s.machine + ' · ' + clock(s.at)));
    if (s.flags.length) cap.append(' ', el('span', 'flags', s.flags.join(', ').toUpperCase()));
  }

  function renderScans(scans) {
    var list = $('scans').querySelector('ol');
    list.replaceChildren();
    if (!scans.length) list.append(el('li', 'empty', 'None yet.'));
    scans.forEach(function (s) {
      var li = el('li', s.outcome === 'refused' ? 'refused' : 'accepted');
      li.append(el('b', '', s.outcome === 'refused' ? 'REFUSED' : 'ACCEPTED'), ' ' + clock(s.at) + ' · ' + s.raw +
        ' — ' + s.message);
      list.append(li);
    });
  }

  function renderQueue(queue) {
    var list = $('queue').querySelector('ol');
    list.replaceChildren();
    if (!queue.length) list.append(el('li', 'empty', 'Nothing queued.'));
    queue.forEach(function (q) {
      var li = el('li');
      if (q.rush) li.append(el('span', 'rush', 'RUSH'), ' ');
      li.append(q.order_id + ' / ' + q.item_id + ' · ' + q.operation + ' · unit ' + q.next_unit + ' of ' + q.qty +
        (q.due_by ? ' · due ' + q.due_by.substring(0, 16).replace('T', ' ') : ''));
      list.append(li);
    });
  }

  function render(s) {
    document.title = s.station.name + ' · station';
    $('station-name').textContent = s.station.name;
    $('updated').textContent = s.at ? 'updated ' + clock(s.at) : '';
    renderBanner(s.scans);
    renderMachines(s.floor.machines);
    renderSnapshot(s.snapshot);
    renderScans(s.scans);
    renderQueue(s.floor.queue);
  }

  render(JSON.parse($('initial').textContent));
  if (window.EventSource) {
    var live = $('live');
    var events = new EventSource(location.pathname.replace(/\/$/, '') + '/events');
    events.onopen = function () { live.className = 'on'; live.textContent = 'LIVE'; };
    events.onerror = function () { live.className = ''; live.textContent = 'RECONNECTING'; };
    events.onmessage = function (e) {
      try { render(JSON.parse(e.data)); } catch (err) { console.error(err); }
    };
  }
})();
)JS";

std::string head(std::string_view title) {
    std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>";
    out += htmlEscape(title);
    out += "</title><style>";
    out += kStyle;
    out += "</style></head>";
    return out;
}

} // namespace

std::string htmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string stationListHtml(std::string_view factory, const std::vector<StationConfig>& stations) {
    std::string out = head("Stations · " + std::string(factory));
    out += "<body><header><h1>Stations · " + htmlEscape(factory) + "</h1></header><main><ol class=\"stations\">";
    for (const auto& s : stations) {
        out += "<li><a href=\"/station/" + htmlEscape(s.id) + "\">" + htmlEscape(s.name) + "</a><small>";
        std::string machines;
        for (const auto& m : s.machines) machines += (machines.empty() ? "" : ", ") + m;
        out += htmlEscape(s.machines.empty() ? std::string("every machine") : machines);
        out += "</small></li>";
    }
    out += "</ol></main></body></html>\n";
    return out;
}

std::string stationPageHtml(const StationConfig& station, std::string_view snapshotJson) {
    std::string out = head(station.name + " · station");
    out += "<body><header><h1 id=\"station-name\">" + htmlEscape(station.name) +
           "</h1><span id=\"updated\"></span><span id=\"live\">CONNECTING</span></header>"
           "<main><section id=\"scan-banner\" class=\"none\"><div class=\"verdict\"></div><div class=\"why\"></div>"
           "<div class=\"meta\"></div></section>"
           "<section id=\"machines\"></section>"
           "<section><div id=\"snapshot\" class=\"card\"><h2>Latest QC snapshot</h2><img hidden alt=\"\">"
           "<div class=\"caption\"></div></div>"
           "<div id=\"scans\" class=\"card\"><h2>Last scans</h2><ol></ol></div>"
           "<div id=\"queue\" class=\"card\"><h2>Next up</h2><ol></ol></div></section></main>"
           "<script id=\"initial\" type=\"application/json\">";
    // JSON inside a script element: no '<' may open a tag (a "</script>" in an operator's text).
    for (char c : snapshotJson) {
        if (c == '<') out += "\\u003c";
        else out += c;
    }
    out += "</script><script>";
    out += kScript;
    out += "</script></body></html>\n";
    return out;
}

std::string errorPageHtml(int status, std::string_view title, std::string_view detail) {
    std::string out = head(std::to_string(status) + " " + std::string(title));
    out += "<body><header><h1>" + std::to_string(status) + " " + htmlEscape(title) + "</h1></header><main><p>" +
           htmlEscape(detail) + "</p><p><a href=\"/\">All stations</a></p></main></body></html>\n";
    return out;
}

} // namespace mto
