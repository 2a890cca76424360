// The classroom view: a ladder diagram of the run's events (one JSON
// object each: docs/json-schema.md), streamed from the server or embedded
// in the page. Every text is put in with textContent or setAttribute,
// never parsed as HTML: payloads are untrusted.
(function () {
  'use strict';
  var SVG = 'http://www.w3.org/2000/svg';
  var COL = 220, PAD = 60, ROW = 62, CALLROW = 26, SLANT = 12;
  var FLAGS = ['SYN', 'ACK', 'PSH', 'FIN', 'RST'];
  var cfg = JSON.parse(document.getElementById('config').textContent);
  var $ = function (id) { return document.getElementById(id); };

  // ---- model: runs (one per lab of `demo all`, else one) ----
  var runs = [];
  var view = { run: -1, conn: 'all', spacing: 'even', sel: -1, calls: true };
  var ended = false;

  function newRun(name, question) {
    runs.push({ name: name, question: question, items: [], packets: 0, ends: [], endIndex: {},
      conns: {}, labels: {}, confirmed: {}, checks: [], judged: false, isLab: !!name, end: null, capped: false });
    if (view.run !== -1) { view.run = runs.length - 1; }
    refreshPickers();
  }
  function current() { if (!runs.length) { newRun(null, null); } return runs[runs.length - 1]; }
  function shown() { return runs.length ? runs[view.run === -1 ? runs.length - 1 : view.run] : current(); }

  function key(ip, port) { return port === undefined || port === null ? String(ip) : (String(ip).indexOf(':') >= 0 ? '[' + ip + ']:' + port : ip + ':' + port); }
  function endpoint(r, k, role, conn) {
    if (!(k in r.endIndex)) { r.endIndex[k] = r.ends.length; r.ends.push({ key: k, role: role, conns: [] }); }
    var e = r.ends[r.endIndex[k]];
    if (conn !== undefined && e.conns.indexOf(conn) < 0) { e.conns.push(conn); }
    return e;
  }
  // A packet's two ends: by its ports; an ICMP error by its conversation.
  function ends(r, ev) {
    var src, dst;
    if (ev.sport !== undefined) { src = key(ev.src, ev.sport); dst = key(ev.dst, ev.dport); }
    else if (ev.conn !== undefined && r.conns[ev.conn]) {
      var c = r.conns[ev.conn];
      src = ev.dir === 'c2s' ? c.client : c.server; dst = ev.dir === 'c2s' ? c.server : c.client;
    } else { src = String(ev.src || '?'); dst = String(ev.dst || '?'); }
    return [src, dst];
  }

  function apply(ev) {
    var r;
    switch (ev.kind) {
      case 'lab':
        if (runs.length === 1 && !runs[0].isLab && runs[0].items.length === 0) { runs.pop(); }
        newRun(ev.name, ev.question);
        break;
      case 'packet':
        r = current();
        var se = ends(r, ev);
        if (ev.conn !== undefined && ev.sport !== undefined && !r.conns[ev.conn]) {
          r.conns[ev.conn] = ev.dir === 's2c' ? { client: se[1], server: se[0] } : { client: se[0], server: se[1] };
          refreshPickers();
        }
        var c2s = ev.dir !== 's2c';
        endpoint(r, se[0], ev.conn === undefined ? '' : (c2s ? 'client' : 'server'), ev.conn);
        endpoint(r, se[1], ev.conn === undefined ? '' : (c2s ? 'server' : 'client'), ev.conn);
        ev._src = se[0]; ev._dst = se[1]; ev._i = r.packets++;
        r.items.push(ev);
        break;
      case 'call': case 'kernel': case 'step': case 'note':
        r = current();
        // A socket's lifeline is labelled with who made its calls: the
        // program's name and pid under trace (`python3[4121]`), the
        // lab's actor in a demo (`client 1`).
        if (ev.kind === 'call' && ev.local && (ev.pid || ev.actor)) {
          var actor = ev.actor || '';
          var who = ev.pid ? actor.split(' ')[0] + '[' + ev.pid + ']' : actor;
          if (!r.labels[ev.local]) { r.labels[ev.local] = who; }
        }
        // The kernel reported this side of this conversation entering a
        // state (TIME-WAIT, which Linux reports as CLOSED, through its
        // agreement with the inferred state).
        if (ev.kind === 'kernel' && ev.conn !== undefined && ev.side) {
          if (ev.new_state) { r.confirmed[ev.conn + ':' + ev.side + ':' + ev.new_state] = true; }
          if (ev.agrees && ev.inferred_state) { r.confirmed[ev.conn + ':' + ev.side + ':' + ev.inferred_state] = true; }
        }
        r.items.push(ev);
        break;
      case 'conn':
        break;
      case 'check':
        current().checks.push(ev);
        break;
      case 'checks':
        r = current(); r.checks = ev.checks; r.judged = true;
        break;
      case 'pause':
        $('step').hidden = false; $('step').disabled = false;
        $('stepnext').textContent = 'next: ' + ev.step;
        break;
      case 'cap':
        current().capped = true;
        break;
      case 'end':
        current().end = ev;
        break;
      case 'bye':
        finished();
        break;
    }
    schedule();
  }

  // ---- quiz: each TCP packet is predicted before it is shown ----
  var quiz = { pending: [], asking: null, right: 0, wrong: 0 };
  var received = 0; // packets received (a quiz shows fewer)
  function take(ev) {
    if (ev.kind === 'packet') { received++; }
    if (!cfg.quiz) { apply(ev); return; }
    quiz.pending.push(ev);
    pump();
  }
  function pump() {
    while (quiz.pending.length && !quiz.asking) {
      var ev = quiz.pending[0];
      if (ev.kind === 'packet' && ev.proto === 'tcp') { ask(ev); return; }
      apply(quiz.pending.shift());
    }
  }
  function roleOf(ev, sending) {
    if (ev.dir === undefined) { return sending ? 'the sender' : 'the receiver'; }
    var client = (ev.dir === 'c2s') === sending;
    return client ? 'the client' : 'the server';
  }
  function ask(ev) {
    quiz.asking = ev;
    var r = current();
    var se = ends(r, ev);
    $('quiz').hidden = false;
    $('quizq').textContent = 'Frame ' + ev.frame + ' comes next: from ' + roleOf(ev, true) + ' ' + se[0] +
      ' to ' + roleOf(ev, false) + ' ' + se[1] + '. What will it carry?';
    $('quizwho').textContent = roleOf(ev, true);
    Array.prototype.forEach.call(document.querySelectorAll('#quizflags input'), function (b) { b.checked = false; });
    $('quizack').value = '';
  }
  function check() {
    var ev = quiz.asking;
    if (!ev) { return; }
    var flags = ev.tcp_flags || [];
    var said = [];
    Array.prototype.forEach.call(document.querySelectorAll('#quizflags input'), function (b) { if (b.checked) { said.push(b.value); } });
    var truth = FLAGS.filter(function (f) { return flags.indexOf(f) >= 0; });
    var parts = [];
    parts.push(['flags', said.sort().join(',') === truth.slice().sort().join(','), truth.join('+') || 'none']);
    var ack = flags.indexOf('ACK') >= 0 ? String(ev.rel_ack !== undefined ? ev.rel_ack : ev.ack) : '';
    parts.push(['ack', $('quizack').value.trim() === ack, ack === '' ? 'no ACK' : ack]);
    var state = ev.dir === 's2c' ? ev.server_state : ev.client_state;
    if (state && state !== '-' && ev.dir !== undefined) { parts.push(['state', $('quizstate').value === state, state]); }
    var out = $('quizresult');
    out.textContent = 'Frame ' + ev.frame + ': ';
    parts.forEach(function (p) {
      if (p[1]) { quiz.right++; } else { quiz.wrong++; }
      var s = document.createElement('span');
      s.className = p[1] ? 'right' : 'wrong';
      s.setAttribute('data-part', p[0]);
      s.textContent = p[0] + (p[1] ? ' right' : ' wrong') + ' (' + p[2] + ')';
      out.appendChild(s);
    });
    score();
    quiz.asking = null;
    $('quiz').hidden = true;
    apply(quiz.pending.shift());
    pump();
  }
  function score() {
    var s = $('score');
    s.hidden = false;
    s.setAttribute('data-right', quiz.right); s.setAttribute('data-wrong', quiz.wrong);
    s.textContent = 'Score: ' + quiz.right + ' right, ' + quiz.wrong + ' wrong';
  }

  // ---- drawing ----
  var scheduled = false;
  // Redrawn at most every 30 ms, however fast events come (a timer, not
  // requestAnimationFrame, which stops in a tab that is not shown).
  function schedule() { if (!scheduled) { scheduled = true; setTimeout(function () { scheduled = false; draw(); }, 30); } }
  function el(name, attrs, text, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function h(name, cls, text, parent) {
    var e = document.createElement(name);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function visible(r, ev) {
    if (!view.calls && ev.kind !== 'packet' && ev.kind !== 'step') { return false; }
    if (view.conn === 'all') { return true; }
    if (ev.kind === 'packet' || ev.kind === 'kernel') { return String(ev.conn) === view.conn; }
    if (ev.kind === 'call') {
      var c = r.conns[view.conn];
      return !!c && (ev.local === c.client || ev.local === c.server || ev.remote === c.client || ev.remote === c.server);
    }
    return true;
  }
  function lanes(r) {
    var list = r.ends.filter(function (e) { return view.conn === 'all' || e.conns.indexOf(+view.conn) >= 0; });
    var x = {};
    list.forEach(function (e, i) { x[e.key] = PAD / 2 + i * COL + COL / 2; });
    return { list: list, x: x, width: PAD + Math.max(1, list.length) * COL };
  }
  function lifelines(svg, L, height) {
    L.list.forEach(function (e) { el('line', { 'class': 'lifeline', x1: L.x[e.key], y1: 0, x2: L.x[e.key], y2: height }, null, svg); });
  }
  // Where a call's mark goes: its socket's lifeline (a wildcard address
  // matches by port), else the margin.
  function callX(L, ev) {
    var k = ev.local;
    if (k && k in L.x) { return L.x[k]; }
    if (k) {
      var port = k.slice(k.lastIndexOf(':') + 1);
      for (var i = 0; i < L.list.length; i++) {
        var e = L.list[i].key;
        if (e.slice(e.lastIndexOf(':') + 1) === port && (k.indexOf('0.0.0.0:') === 0 || k.indexOf('[::]:') === 0)) { return L.x[e]; }
      }
    }
    return 10;
  }
  function label(ev) {
    if (ev.proto === 'tcp') {
      var s = (ev.tcp_flags || []).join('+');
      s += '  seq ' + (ev.rel_seq !== undefined ? ev.rel_seq : ev.seq);
      if ((ev.tcp_flags || []).indexOf('ACK') >= 0) { s += '  ack ' + (ev.rel_ack !== undefined ? ev.rel_ack : ev.ack); }
      if (ev.len) { s += '  len ' + ev.len; }
      return s;
    }
    if (ev.proto === 'udp') { return 'UDP  len ' + ev.len; }
    if (ev.proto === 'icmp' || ev.proto === 'icmpv6') { return ev.proto.toUpperCase() + ' type ' + ev.icmp_type + ' code ' + ev.icmp_code; }
    return ev.proto;
  }
  function kindClass(ev) {
    var f = ev.tcp_flags || [];
    if (f.indexOf('RST') >= 0) { return 'rst'; }
    if (f.indexOf('SYN') >= 0) { return 'syn'; }
    if (f.indexOf('FIN') >= 0) { return 'fin'; }
    if (ev.proto === 'icmp' || ev.proto === 'icmpv6') { return 'icmp'; }
    return '';
  }
  function box(svg, x, y, state, cls, side) {
    var g = el('g', { 'class': 'box ' + cls, 'data-side': side, 'data-state': state }, null, svg);
    var w = Math.max(60, state.length * 8.8 + 16);
    el('rect', { x: x - w / 2, y: y, width: w, height: 19, rx: 4 }, null, g);
    el('text', { x: x, y: y + 14, 'text-anchor': 'middle' }, state + (cls.indexOf('kernel') >= 0 ? ' \u2713' : ''), g);
  }
  function rel(ts, first) { return ((ts - first) / 1e9).toFixed(6); }

  function draw() {
    var r = shown();
    $('title').textContent = r.name ? r.name : (document.title || 'wirelab');
    $('question').textContent = r.question || '';
    var L = lanes(r);
    drawHeads(r, L);
    var rows = $('rows');
    rows.textContent = '';
    var first = null, prev = null, last = {};
    var count = 0;
    r.items.forEach(function (ev) {
      if (!visible(r, ev)) { return; }
      if (first === null) { first = ev.ts_ns; }
      var gap = prev === null ? 0 : (ev.ts_ns - prev) / 1e6;
      prev = ev.ts_ns;
      var extra = view.spacing === 'time' ? Math.min(160, Math.round(30 * Math.log10(1 + Math.max(0, gap)))) : 0;
      if (ev.kind === 'packet') { count++; rows.appendChild(packetRow(r, L, ev, first, extra, last)); }
      else { rows.appendChild(lineRow(L, ev, first, extra)); }
    });
    // A row whose explanation wraps is taller than its drawing: the
    // drawing grows with it, so the lifelines do not break (all heights
    // read first, then all set: one layout).
    var lanesIn = rows.querySelectorAll('.row > svg.lane');
    var tall = Array.prototype.map.call(lanesIn, function (svg) { return svg.parentNode.offsetHeight; });
    Array.prototype.forEach.call(lanesIn, function (svg, i) {
      if (tall[i] > +svg.getAttribute('height')) { svg.setAttribute('height', tall[i]); }
    });
    if (r.capped) { h('p', 'hint', 'More packets came than the view shows (' + count + '); choose fewer with -c N, --conn N or a filter.', rows); }
    document.body.setAttribute('data-packets', String(count));
    drawChecks(r);
    if (view.sel >= 0) { select(view.sel, false); }
  }
  function drawHeads(r, L) {
    var heads = $('heads');
    heads.textContent = '';
    h('span', 'f', '#', heads); h('span', 't', 'time s', heads);
    var svg = el('svg', { 'class': 'lane', width: L.width, height: 62 }, null, heads);
    L.list.forEach(function (e) {
      var x = L.x[e.key];
      var g = el('g', { 'class': 'head', 'data-end': e.key, 'data-role': e.role }, null, svg);
      el('text', { 'class': 'hname', x: x, y: 16, 'text-anchor': 'middle' }, e.role || 'host', g);
      el('text', { 'class': 'haddr', x: x, y: 34, 'text-anchor': 'middle' }, e.key, g);
      var who = r.labels[e.key];
      if (!who) {
        var port = e.key.slice(e.key.lastIndexOf(':') + 1);
        who = r.labels['0.0.0.0:' + port] || r.labels['[::]:' + port] || '';
      }
      el('text', { 'class': 'hproc', x: x, y: 52, 'text-anchor': 'middle' }, who, g);
    });
    h('span', 'note legend', 'dashed box: state inferred from the packets; solid \u2713: the kernel reported it', heads);
  }
  function packetRow(r, L, ev, first, extra, last) {
    var row = h('div', 'row pk ' + kindClass(ev));
    row.setAttribute('data-frame', ev.frame);
    row.setAttribute('data-i', ev._i);
    row.tabIndex = -1;
    h('span', 'f', String(ev.frame), row);
    h('span', 't', rel(ev.ts_ns, first), row);
    var height = ROW + extra;
    var svg = el('svg', { 'class': 'lane', width: L.width, height: height }, null, row);
    lifelines(svg, L, height);
    var y = extra + 22, x1 = L.x[ev._src], x2 = L.x[ev._dst];
    if (x1 !== undefined && x2 !== undefined) {
      var dir = x2 > x1 ? 1 : -1;
      el('line', { 'class': 'arrow', x1: x1, y1: y, x2: x2 - dir * 9, y2: y + SLANT }, null, svg);
      var hy = y + SLANT;
      el('polygon', { 'class': 'head', points: x2 + ',' + hy + ' ' + (x2 - dir * 12) + ',' + (hy - 6) + ' ' + (x2 - dir * 12) + ',' + (hy + 6) }, null, svg);
      el('text', { 'class': 'label', x: (x1 + x2) / 2, y: y - 5, 'text-anchor': 'middle' }, label(ev), svg);
      if (ev.client_state !== undefined && ev.dir !== undefined) {
        var c2s = ev.dir === 'c2s';
        var client = c2s ? ev._src : ev._dst, server = c2s ? ev._dst : ev._src;
        [['client', client, ev.client_state], ['server', server, ev.server_state]].forEach(function (s) {
          if (!s[2] || s[2] === '-') { return; }
          var k = ev.conn + ':' + s[0];
          var cls = (last[k] === s[2] ? 'same' : 'changed') + (r.confirmed[ev.conn + ':' + s[0] + ':' + s[2]] ? ' kernel' : ' inferred');
          last[k] = s[2];
          box(svg, L.x[s[1]], extra + ROW - 22, s[2], cls, s[0]);
        });
      }
    }
    h('div', 'note', ev.note || '', row);
    row.addEventListener('click', function () { select(ev._i, true); });
    return row;
  }
  function lineRow(L, ev, first, extra) {
    var row = h('div', 'row ' + (ev.kind === 'call' ? 'call' : ev.kind === 'kernel' ? 'kernel' : ev.kind === 'step' ? 'step' : 'other'));
    row.setAttribute('data-kind', ev.kind);
    h('span', 'f', '', row);
    h('span', 't', ev.ts_ns !== undefined ? rel(ev.ts_ns, first) : '', row);
    var height = CALLROW + extra;
    var svg = el('svg', { 'class': 'lane', width: L.width, height: height }, null, row);
    lifelines(svg, L, height);
    if (ev.kind === 'call' || ev.kind === 'kernel') {
      el('circle', { 'class': ev.kind === 'call' ? 'mark' : 'kmark', cx: callX(L, ev), cy: extra + CALLROW / 2, r: 6 }, null, svg);
    }
    // A call's and the kernel's text name who acted; a note's does not.
    var text = ev.text || '';
    if (ev.kind === 'note' && ev.actor) { text = ev.actor + ': ' + text; }
    h('div', 'note', text, row);
    return row;
  }
  function drawChecks(r) {
    var box = $('checkbox'), ul = $('checks');
    box.hidden = !r.isLab && !r.checks.length;
    ul.textContent = '';
    r.checks.forEach(function (c) {
      var li = h('li', null, (c.passed === true ? 'passed' : c.passed === false ? 'FAILED' : 'not checked') + ': ' + c.what + (c.detail ? ' (' + c.detail + ')' : ''), ul);
      li.setAttribute('data-passed', String(c.passed));
    });
    if (r.isLab && !r.judged) {
      var li = h('li', null, 'the packet checks: judged when the capture ends', ul);
      li.setAttribute('data-passed', 'pending');
    }
  }

  // ---- detail pane and keyboard ----
  function select(i, scroll) {
    var r = shown();
    var ev = null;
    for (var n = 0; n < r.items.length; n++) { if (r.items[n].kind === 'packet' && r.items[n]._i === i) { ev = r.items[n]; } }
    if (!ev) { return; }
    view.sel = i;
    Array.prototype.forEach.call(document.querySelectorAll('.row.sel'), function (x) { x.classList.remove('sel'); });
    var row = document.querySelector('.row.pk[data-i="' + i + '"]');
    if (row) { row.classList.add('sel'); if (scroll) { row.scrollIntoView({ block: 'nearest' }); } }
    var d = $('detail');
    d.textContent = '';
    d.hidden = false;
    d.setAttribute('data-frame', ev.frame);
    var close = h('button', null, '\u00d7', d);
    close.id = 'detailclose'; close.type = 'button'; close.title = 'close (Esc)';
    close.addEventListener('click', unselect);
    h('h3', null, 'Frame ' + ev.frame + ': ' + ev._src + ' \u2192 ' + ev._dst, d);
    var dl = h('dl', null, null, d);
    var fields = [['protocol', ev.proto], ['flags', (ev.tcp_flags || []).join(' ')], ['seq (relative)', ev.rel_seq], ['seq (raw)', ev.seq],
      ['ack (relative)', ev.rel_ack], ['ack (raw)', ev.ack], ['window', ev.win], ['window scale', ev.win_scale], ['payload length', ev.len],
      ['ICMP type', ev.icmp_type], ['ICMP code', ev.icmp_code], ['conversation', ev.conn], ['direction', ev.dir],
      ['client state after', ev.client_state], ['server state after', ev.server_state], ['frame length', ev.wire_len],
      ['truncated', ev.truncated], ['decoding stopped', ev.issue]];
    fields.forEach(function (f) {
      if (f[1] === undefined || f[1] === '') { return; }
      h('dt', null, f[0], dl); h('dd', null, String(f[1]), dl);
    });
    h('h4', null, 'What it means', d);
    h('p', 'explain', ev.note || '', d);
    if (ev.events && ev.events.length) {
      h('h4', null, 'Evidence (what tracking found)', d);
      var ul = h('ul', 'events', null, d);
      ev.events.forEach(function (e) {
        var parts = [];
        for (var k in e) { if (k !== 'code' && k !== 'basis') { parts.push(k + '=' + JSON.stringify(e[k])); } }
        h('li', null, e.code + ' [' + e.basis + ']' + (parts.length ? ' ' + parts.join(' ') : ''), ul);
      });
    }
    if (ev.headers && ev.headers.length) { h('h4', null, 'Header bytes', d); h('pre', 'headers', ev.headers.join('\n'), d); }
    if (ev.payload !== undefined) { h('h4', null, 'Payload (escaped)', d); h('pre', 'payload', ev.payload, d); }
    if (ev.payload_hex) { h('pre', 'payloadhex', ev.payload_hex, d); }
  }
  function unselect() {
    view.sel = -1;
    $('detail').hidden = true;
    Array.prototype.forEach.call(document.querySelectorAll('.row.sel'), function (x) { x.classList.remove('sel'); });
  }
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { unselect(); return; }
    if (e.target && (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT')) { return; }
    var n = shown().packets;
    if (!n) { return; }
    if (e.key === 'ArrowDown' || e.key === 'j') { select(Math.min(n - 1, view.sel + 1), true); e.preventDefault(); }
    else if (e.key === 'ArrowUp' || e.key === 'k') { select(Math.max(0, view.sel - 1), true); e.preventDefault(); }
  });

  // ---- controls ----
  function refreshPickers() {
    var runsel = $('runs');
    runsel.textContent = '';
    runs.forEach(function (r, i) { var o = h('option', null, r.name || 'capture', runsel); o.value = String(i); });
    runsel.value = String(view.run === -1 ? runs.length - 1 : view.run);
    $('runpick').hidden = runs.length < 2;
    var conns = $('conns'), keep = view.conn;
    conns.textContent = '';
    var all = h('option', null, 'all', conns); all.value = 'all';
    var r = shown();
    Object.keys(r.conns).forEach(function (id) {
      var o = h('option', null, '#' + id + ' ' + r.conns[id].client + ' \u2192 ' + r.conns[id].server, conns);
      o.value = id;
    });
    conns.value = keep in r.conns ? keep : 'all';
    view.conn = conns.value;
  }
  $('runs').addEventListener('change', function () {
    var i = +$('runs').value;
    view.run = i === runs.length - 1 ? -1 : i; view.sel = -1; view.conn = 'all';
    refreshPickers(); draw();
  });
  $('conns').addEventListener('change', function () { view.conn = $('conns').value; view.sel = -1; draw(); });
  $('spacing').addEventListener('click', function () {
    view.spacing = view.spacing === 'even' ? 'time' : 'even';
    $('spacing').setAttribute('data-mode', view.spacing);
    $('spacing').textContent = 'spacing: ' + (view.spacing === 'even' ? 'even' : 'by time');
    draw();
  });
  $('showcalls').addEventListener('change', function () { view.calls = $('showcalls').checked; draw(); });
  $('step').addEventListener('click', function () {
    $('step').disabled = true;
    $('stepnext').textContent = '';
    fetch('/step?token=' + encodeURIComponent(cfg.token || ''), { method: 'GET', cache: 'no-store' });
  });
  $('quizcheck').addEventListener('click', check);

  function status(state, text) { var s = $('status'); s.setAttribute('data-state', state); s.textContent = text; }
  function finished() {
    ended = true;
    $('step').hidden = true;
    status('ended', 'the run ended: ' + received + ' packets');
  }

  // ---- input ----
  var data = document.getElementById('data');
  if (data) {
    JSON.parse(data.textContent).forEach(take);
    finished();
    status('file', 'saved run: ' + received + ' packets');
    var m = /^#frame-(\d+)$/.exec(location.hash);
    if (m) { draw(); var r = shown(); r.items.forEach(function (ev) { if (ev.kind === 'packet' && ev.frame === +m[1]) { select(ev._i, true); } }); }
  } else if (cfg.live) {
    status('live', 'live');
    var source = new EventSource('/events');
    source.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      take(ev);
      if (ev.kind === 'bye') { source.close(); }
    };
    source.onerror = function () {
      source.close();
      // A reconnect would replay the run from its start: say what happened instead.
      if (!ended) { status('lost', 'connection to wirelab lost (reload to see the run again)'); }
    };
  }
  if (cfg.quiz) { score(); }
  schedule();
})();
