// delegraph's triage page: keyboard triage and row clicks. Loaded from
// /ui/static/ui.js (the page allows no inline script); everything works
// without it, through links and forms.
(function () {
  'use strict';

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll('tr.row[data-href]'));
  }

  function selectedIndex(list) {
    for (var i = 0; i < list.length; i++) {
      if (list[i].classList.contains('sel')) return i;
    }
    return -1;
  }

  function move(delta) {
    var list = rows();
    if (!list.length) return;
    var i = selectedIndex(list);
    var next = i < 0 ? 0 : Math.min(list.length - 1, Math.max(0, i + delta));
    if (next !== i) window.location.assign(list[next].getAttribute('data-href'));
  }

  function click(id) {
    var el = document.getElementById(id);
    if (el) el.click();
  }

  function focus(id) {
    var el = document.getElementById(id);
    if (el) el.focus();
  }

  function toggleHelp() {
    var help = document.getElementById('help');
    if (help) help.hidden = !help.hidden;
  }

  document.addEventListener('keydown', function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var t = e.target;
    if (t && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) {
      if (e.key === 'Escape') t.blur();
      return;
    }
    switch (e.key) {
      case 'j': move(1); break;
      case 'k': move(-1); break;
      case 'a': click('act-ack'); break;
      case 'c': focus('close-disposition'); break;
      case 's': click('act-suppress'); break;
      case '?': toggleHelp(); break;
      case 'Escape': { var h = document.getElementById('help'); if (h) h.hidden = true; break; }
      default: return;
    }
    e.preventDefault();
  });

  document.addEventListener('click', function (e) {
    var target = e.target;
    if (target.closest('[data-key="?"]')) { toggleHelp(); return; }
    if (target.closest('a, button, input, select, label')) return;
    var row = target.closest('tr.row[data-href]');
    if (row) window.location.assign(row.getAttribute('data-href'));
  });

  document.addEventListener('DOMContentLoaded', function () {
    var sel = document.querySelector('tr.row.sel');
    if (sel) sel.scrollIntoView({ block: 'nearest' });
  });
})();
