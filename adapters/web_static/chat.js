/* Plaza — resident web chat. Plain JS, no dependencies, no build step.
 *
 * API (see the backend):
 *   POST /chat/api/{session}/messages   JSON {text|choice|location|start, client_message_id, language}
 *                                       or multipart {photo, text?, client_message_id, language}
 *                                       -> 202 {id, duplicate} | 400 {error} | 413
 *   GET  /chat/api/{session}/messages?after=ID&wait=25
 *                                       -> 200 [{id, text, options, expects, photo}]
 *
 * Every piece of message content is put in the page with textContent, never innerHTML.
 */
(function () {
  "use strict";

  // ---- UI chrome strings (bot messages come from the server, already in the resident's language)
  var STRINGS = {
    es: {
      subtitle: "Chat de atención ciudadana",
      titleSuffix: "Chat",
      newConversation: "Nueva conversación",
      conversation: "Conversación",
      intro: "Escribe tu consulta o elige una opción. La conversación se guarda en este dispositivo y en el Ayuntamiento.",
      waiting: "Conectando…",
      botSpeaker: "Ayuntamiento:",
      youSpeaker: "Tú:",
      inputLabel: "Tu mensaje",
      placeholder: "Escribe un mensaje…",
      placeholderNumber: "Escribe un número…",
      placeholderDate: "Fecha, p. ej. 25/03/2025",
      placeholderLocation: "O escribe la dirección…",
      placeholderPhoto: "Comentario (opcional)…",
      send: "Enviar",
      attach: "Adjuntar foto",
      shareLocation: "📍 Compartir mi ubicación",
      attachPhoto: "📷 Adjuntar foto",
      removePhoto: "Quitar la foto",
      close: "Cerrar",
      sending: "Enviando…",
      retrying: "No enviado, reintentando…",
      retryingIn: "No enviado, reintentando en {s} s…",
      notSent: "No enviado",
      notSentReason: "No se ha podido enviar: {reason}",
      photoLost: "No enviado. Vuelve a adjuntar la foto.",
      photoTooLarge: "La foto es demasiado grande (máximo 10 MB). Prueba con otra o hazla con menos resolución.",
      notAnImage: "Ese archivo no es una imagen. Elige una foto.",
      locating: "Buscando tu ubicación…",
      locationShared: "📍 Ubicación compartida",
      geoUnavailable: "Tu navegador no puede compartir la ubicación. Escribe la dirección en su lugar.",
      geoDenied: "No se ha dado permiso para usar la ubicación. Escribe la dirección en su lugar.",
      geoFailed: "No se ha podido obtener tu ubicación. Escribe la dirección en su lugar.",
      reconnecting: "Sin conexión con el Ayuntamiento. Reintentando…",
      photoCaption: "Foto",
      botPhoto: "Imagen enviada por el Ayuntamiento",
      yourPhoto: "Tu foto",
      counter: "{n} / 4000",
      genericError: "error del servidor ({status})"
    },
    en: {
      subtitle: "Resident chat",
      titleSuffix: "Chat",
      newConversation: "New conversation",
      conversation: "Conversation",
      intro: "Write your question or pick an option. The conversation is kept on this device and by the town hall.",
      waiting: "Connecting…",
      botSpeaker: "Town hall:",
      youSpeaker: "You:",
      inputLabel: "Your message",
      placeholder: "Write a message…",
      placeholderNumber: "Type a number…",
      placeholderDate: "Date, e.g. 25/03/2025",
      placeholderLocation: "Or type the address…",
      placeholderPhoto: "Comment (optional)…",
      send: "Send",
      attach: "Attach a photo",
      shareLocation: "📍 Share my location",
      attachPhoto: "📷 Attach a photo",
      removePhoto: "Remove the photo",
      close: "Close",
      sending: "Sending…",
      retrying: "Not sent, retrying…",
      retryingIn: "Not sent, retrying in {s} s…",
      notSent: "Not sent",
      notSentReason: "Could not be sent: {reason}",
      photoLost: "Not sent. Please attach the photo again.",
      photoTooLarge: "The photo is too large (10 MB at most). Try another one or take it at a lower resolution.",
      notAnImage: "That file is not an image. Please choose a photo.",
      locating: "Finding your location…",
      locationShared: "📍 Location shared",
      geoUnavailable: "Your browser cannot share your location. Please type the address instead.",
      geoDenied: "Permission to use your location was not given. Please type the address instead.",
      geoFailed: "Your location could not be found. Please type the address instead.",
      reconnecting: "No connection with the town hall. Retrying…",
      photoCaption: "Photo",
      botPhoto: "Image sent by the town hall",
      yourPhoto: "Your photo",
      counter: "{n} / 4000",
      genericError: "server error ({status})"
    }
  };

  var MAX_TEXT = 4000;
  var MAX_PHOTO_BYTES = 10 * 1024 * 1024;
  var MAX_ITEMS = 300;                      // transcript entries kept in localStorage
  var POLL_WAIT = 25;                       // seconds the server may hold a poll
  var POLL_TIMEOUT_MS = (POLL_WAIT + 20) * 1000;
  var POST_TIMEOUT_MS = 30000;
  var PHOTO_TIMEOUT_MS = 180000;
  var POLL_BACKOFF = [1, 2, 5, 10, 15, 30]; // seconds
  var POST_BACKOFF = [1, 2, 5, 10, 20, 30];
  var SESSION_RE = /^[A-Za-z0-9_-]{16,64}$/;
  var KEY_SESSION = "plaza.chat.session";
  var KEY_LAST = "plaza.chat.lastId";
  var KEY_TRANSCRIPT = "plaza.chat.transcript";

  var navLang = (navigator.language || (navigator.languages && navigator.languages[0]) || "").toLowerCase();
  var pageLang = (document.documentElement.getAttribute("lang") || "").toLowerCase();
  var uiLang = navLang ? (navLang.indexOf("es") === 0 ? "es" : "en")
                       : (pageLang.indexOf("en") === 0 ? "en" : "es");
  var T = STRINGS[uiLang];
  var language = navigator.language || (pageLang.indexOf("{") === -1 ? pageLang : "") || uiLang;

  function fmt(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (m, k) { return vars && k in vars ? String(vars[k]) : m; });
  }

  // ---- ids
  function randomHex(bytes) {
    var out = "";
    var arr = null;
    try {
      arr = new Uint8Array(bytes);
      window.crypto.getRandomValues(arr);
    } catch (e) { arr = null; }
    for (var i = 0; i < bytes; i++) {
      var b = arr ? arr[i] : Math.floor(Math.random() * 256);
      out += (b < 16 ? "0" : "") + b.toString(16);
    }
    return out;
  }
  function newMessageId() {
    try {
      if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    } catch (e) { /* insecure context */ }
    return randomHex(16);
  }

  // ---- storage (works in memory when localStorage is unavailable)
  var memoryStore = {};
  function storeGet(k) {
    try { return window.localStorage.getItem(k); } catch (e) { return k in memoryStore ? memoryStore[k] : null; }
  }
  function storeSet(k, v) {
    memoryStore[k] = v;
    try { window.localStorage.setItem(k, v); return true; } catch (e) { return false; }
  }
  function storeDel(k) {
    delete memoryStore[k];
    try { window.localStorage.removeItem(k); } catch (e) { /* ignore */ }
  }

  var session = storeGet(KEY_SESSION);
  if (!session || !SESSION_RE.test(session)) {
    session = randomHex(16);
    storeSet(KEY_SESSION, session);
  }
  var api = "/chat/api/" + encodeURIComponent(session) + "/messages";

  var lastId = parseInt(storeGet(KEY_LAST) || "0", 10);
  if (!isFinite(lastId) || lastId < 0) lastId = 0;

  var items = [];
  try {
    var parsed = JSON.parse(storeGet(KEY_TRANSCRIPT) || "[]");
    if (Array.isArray(parsed)) items = parsed.filter(function (it) { return it && (it.side === "bot" || it.side === "resident"); });
  } catch (e) { items = []; }

  function save() {
    if (items.length > MAX_ITEMS) items = items.slice(items.length - MAX_ITEMS);
    var data = items.map(function (it) {
      var copy = {};
      for (var k in it) if (Object.prototype.hasOwnProperty.call(it, k) && k.charAt(0) !== "_") copy[k] = it[k];
      return copy;
    });
    storeSet(KEY_LAST, String(lastId));
    if (!storeSet(KEY_TRANSCRIPT, JSON.stringify(data))) {
      // Probably over quota: drop stored thumbnails and try again.
      data.forEach(function (d) { delete d.thumb; });
      storeSet(KEY_TRANSCRIPT, JSON.stringify(data));
    }
  }

  // ---- elements
  function $(id) { return document.getElementById(id); }
  var el = {
    scroller: $("scroller"), list: $("messages"), intro: $("intro"), waiting: $("waiting"),
    notice: $("notice"), noticeText: $("notice-text"), noticeClose: $("notice-close"),
    connection: $("connection"), actions: $("actions"),
    shareLocation: $("share-location"), attachPhoto: $("attach-photo"), attach: $("attach"),
    staged: $("staged"), stagedThumb: $("staged-thumb"), stagedName: $("staged-name"), stagedRemove: $("staged-remove"),
    form: $("composer"), input: $("text-input"), send: $("send"), photo: $("photo-input"),
    counter: $("counter"), newConversation: $("new-conversation"), subtitle: $("subtitle")
  };
  var townName = ($("town").textContent || "").trim();

  // ---- chrome text
  function applyChrome() {
    if (townName && townName.indexOf("{{") === -1) document.title = townName + " · " + T.titleSuffix;
    el.subtitle.textContent = T.subtitle;
    el.newConversation.textContent = T.newConversation;
    el.list.setAttribute("aria-label", T.conversation);
    el.intro.textContent = T.intro;
    el.waiting.textContent = T.waiting;
    $("text-input-label").textContent = T.inputLabel;
    $("photo-input-label").textContent = T.attach;
    el.send.textContent = T.send;
    el.attach.setAttribute("aria-label", T.attach);
    el.attach.setAttribute("title", T.attach);
    el.shareLocation.textContent = T.shareLocation;
    el.attachPhoto.textContent = T.attachPhoto;
    el.stagedRemove.setAttribute("aria-label", T.removePhoto);
    el.noticeClose.setAttribute("aria-label", T.close);
  }

  // ---- scrolling
  function nearBottom() {
    var s = el.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }
  function scrollToBottom() {
    el.scroller.scrollTop = el.scroller.scrollHeight;
  }

  // ---- notices
  function showNotice(text) {
    el.noticeText.textContent = text;
    el.notice.hidden = false;
  }
  function hideNotice() {
    el.notice.hidden = true;
    el.noticeText.textContent = "";
  }

  // ---- rendering
  var objectUrls = {};   // client_message_id -> object URL of a photo picked in this page load

  function safeImageUrl(url) {
    if (typeof url !== "string" || !url) return null;
    try {
      var u = new URL(url, window.location.href);
      if (u.protocol === "http:" || u.protocol === "https:") return u.href;
    } catch (e) { /* ignore */ }
    return null;
  }

  function renderItem(it) {
    var li = document.createElement("li");
    li.className = "row " + (it.side === "bot" ? "row-bot" : "row-resident");
    var speaker = document.createElement("span");
    speaker.className = "sr-only";
    speaker.textContent = it.side === "bot" ? T.botSpeaker : T.youSpeaker;
    li.appendChild(speaker);

    var bubble = document.createElement("div");
    bubble.className = "bubble " + (it.side === "bot" ? "bubble-bot" : "bubble-resident");
    bubble.setAttribute("data-testid", it.side === "bot" ? "bot-message" : "resident-message");

    if (it.side === "bot") {
      var url = safeImageUrl(it.photo);
      if (url) {
        var a = document.createElement("a");
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener noreferrer";
        a.className = "photo-link";
        var img = document.createElement("img");
        img.className = "photo";
        img.src = url;
        img.alt = T.botPhoto;
        img.loading = "lazy";
        img.addEventListener("load", function () { if (nearBottom()) scrollToBottom(); });
        a.appendChild(img);
        bubble.appendChild(a);
      }
      if (it.text) {
        var p = document.createElement("p");
        p.className = "text";
        p.textContent = it.text;
        bubble.appendChild(p);
      }
      li.appendChild(bubble);
      if (it.options && it.options.length) {
        var group = document.createElement("div");
        group.className = "options";
        group.setAttribute("role", "group");
        it.options.forEach(function (opt) {
          var b = document.createElement("button");
          b.type = "button";
          b.className = "option";
          b.setAttribute("data-testid", "option");
          b.setAttribute("data-key", opt.key);
          b.textContent = opt.label;
          b.addEventListener("click", function () { onOption(it, opt); });
          group.appendChild(b);
        });
        li.appendChild(group);
      }
    } else {
      if (it.kind === "photo") {
        var src = objectUrls[it.cid] || it.thumb;
        if (src) {
          var pimg = document.createElement("img");
          pimg.className = "photo";
          pimg.src = src;
          pimg.alt = T.yourPhoto;
          pimg.addEventListener("load", function () { if (nearBottom()) scrollToBottom(); });
          bubble.appendChild(pimg);
        } else {
          var ph = document.createElement("p");
          ph.className = "text photo-placeholder";
          ph.textContent = "📷 " + T.photoCaption;
          bubble.appendChild(ph);
        }
      }
      if (it.text) {
        var rp = document.createElement("p");
        rp.className = "text";
        rp.textContent = it.text;
        bubble.appendChild(rp);
      }
      li.appendChild(bubble);
      var meta = document.createElement("p");
      meta.className = "meta";
      li.appendChild(meta);
    }
    it._el = li;
    updateMeta(it);
    return li;
  }

  function updateMeta(it) {
    if (it.side !== "resident" || !it._el) return;
    var meta = it._el.querySelector(".meta");
    var text = "";
    var cls = "meta";
    if (it.status === "sending") text = T.sending;
    else if (it.status === "retrying") text = it._retryIn ? fmt(T.retryingIn, { s: it._retryIn }) : T.retrying;
    else if (it.status === "error") { text = it.error ? fmt(T.notSentReason, { reason: it.error }) : T.notSent; cls += " meta-error"; }
    else if (it.status === "lost") { text = T.photoLost; cls += " meta-error"; }
    if (it.status === "retrying") cls += " meta-warn";
    meta.className = cls;
    meta.textContent = text;
    meta.hidden = !text;
  }

  function appendItem(it) {
    var stick = nearBottom() || it.side === "resident";
    el.list.appendChild(renderItem(it));
    el.waiting.hidden = true;
    if (stick) scrollToBottom();
  }

  function latestBot() {
    for (var i = items.length - 1; i >= 0; i--) if (items[i].side === "bot") return items[i];
    return null;
  }

  // Enable the options of the latest bot message only; show the widgets it expects.
  function refreshControls() {
    var last = latestBot();
    items.forEach(function (it) {
      if (it.side !== "bot" || !it._el) return;
      var live = it === last && !it.chosen;
      var buttons = it._el.querySelectorAll("button.option");
      for (var i = 0; i < buttons.length; i++) {
        var b = buttons[i];
        b.disabled = !live;
        var picked = it.chosen && b.getAttribute("data-key") === it.chosen;
        b.classList.toggle("option-chosen", !!picked);
        if (picked) b.setAttribute("aria-pressed", "true"); else b.removeAttribute("aria-pressed");
      }
    });
    var expects = last ? last.expects : null;
    el.shareLocation.hidden = expects !== "location";
    el.attachPhoto.hidden = expects !== "photo";
    el.actions.hidden = el.shareLocation.hidden && el.attachPhoto.hidden;

    var ph = T.placeholder;
    var mode = "text";
    if (expects === "number") { ph = T.placeholderNumber; mode = "decimal"; }
    else if (expects === "date") ph = T.placeholderDate;
    else if (expects === "location") ph = T.placeholderLocation;
    else if (expects === "photo") ph = T.placeholderPhoto;
    el.input.placeholder = ph;
    el.input.setAttribute("inputmode", mode);
  }

  // ---- composer
  var staged = null; // {file, url}

  function updateSendState() {
    var len = el.input.value.length;
    el.send.disabled = !(el.input.value.trim() || staged);
    if (len > MAX_TEXT - 500) {
      el.counter.hidden = false;
      el.counter.textContent = fmt(T.counter, { n: len });
    } else {
      el.counter.hidden = true;
    }
  }

  function autoGrow() {
    el.input.style.height = "auto";
    var max = 160;
    el.input.style.height = Math.min(el.input.scrollHeight + 2, max) + "px";
    el.input.style.overflowY = el.input.scrollHeight + 2 > max ? "auto" : "hidden";
  }

  function finePointer() {
    try { return window.matchMedia("(pointer: fine)").matches; } catch (e) { return true; }
  }

  function clearStaged() {
    if (staged && staged.url && !staged.sent) {
      try { URL.revokeObjectURL(staged.url); } catch (e) { /* ignore */ }
    }
    staged = null;
    el.staged.hidden = true;
    el.stagedThumb.removeAttribute("src");
    el.stagedName.textContent = "";
    el.photo.value = "";
    updateSendState();
  }

  function stagePhoto(file) {
    if (!file) return;
    hideNotice();
    if (file.type && file.type.indexOf("image/") !== 0) { showNotice(T.notAnImage); el.photo.value = ""; return; }
    if (file.size > MAX_PHOTO_BYTES) { showNotice(T.photoTooLarge); el.photo.value = ""; return; }
    clearStaged();
    var url = null;
    try { url = URL.createObjectURL(file); } catch (e) { url = null; }
    staged = { file: file, url: url };
    if (url) el.stagedThumb.src = url;
    el.stagedName.textContent = file.name || T.photoCaption;
    el.staged.hidden = false;
    updateSendState();
    el.send.focus();
  }

  // A small JPEG thumbnail (data URL) kept in the transcript so a reload still shows the photo.
  function makeThumb(url, cb) {
    if (!url) return cb(null);
    var img = new Image();
    img.onload = function () {
      try {
        var max = 240;
        var scale = Math.min(1, max / Math.max(img.naturalWidth, img.naturalHeight));
        var c = document.createElement("canvas");
        c.width = Math.max(1, Math.round(img.naturalWidth * scale));
        c.height = Math.max(1, Math.round(img.naturalHeight * scale));
        c.getContext("2d").drawImage(img, 0, 0, c.width, c.height);
        cb(c.toDataURL("image/jpeg", 0.7));
      } catch (e) { cb(null); }
    };
    img.onerror = function () { cb(null); };
    img.src = url;
  }

  function submit() {
    var text = el.input.value;
    if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT);
    var hasText = !!text.trim();
    if (!hasText && !staged) return;
    hideNotice();
    if (staged) {
      var st = staged;
      st.sent = true;
      var it = { side: "resident", kind: "photo", cid: newMessageId(), text: hasText ? text : "", status: "sending" };
      if (st.url) objectUrls[it.cid] = st.url;
      addResident(it, { photo: st.file });
      makeThumb(st.url, function (thumb) { if (thumb) { it.thumb = thumb; save(); } });
      clearStaged();
    } else {
      addResident({ side: "resident", kind: "text", cid: newMessageId(), text: text, status: "sending", body: { text: text } });
    }
    el.input.value = "";
    autoGrow();
    updateSendState();
  }

  function addResident(it, extra) {
    items.push(it);
    appendItem(it);
    save();
    enqueue({ item: it, body: it.body || null, photo: extra && extra.photo, cid: it.cid });
  }

  function onOption(botItem, opt) {
    if (botItem !== latestBot() || botItem.chosen) return;
    botItem.chosen = opt.key;
    refreshControls();
    addResident({ side: "resident", kind: "choice", cid: newMessageId(), text: opt.label, status: "sending",
                  body: { choice: opt.key }, choiceOf: botItem.id });
    if (finePointer()) el.input.focus();
  }

  function onShareLocation() {
    hideNotice();
    if (!("geolocation" in navigator) || !navigator.geolocation) { showNotice(T.geoUnavailable); el.input.focus(); return; }
    el.shareLocation.disabled = true;
    el.shareLocation.setAttribute("aria-busy", "true");
    showNotice(T.locating);
    navigator.geolocation.getCurrentPosition(function (pos) {
      el.shareLocation.disabled = false;
      el.shareLocation.removeAttribute("aria-busy");
      hideNotice();
      var lat = Math.round(pos.coords.latitude * 1e6) / 1e6;
      var lon = Math.round(pos.coords.longitude * 1e6) / 1e6;
      addResident({ side: "resident", kind: "location", cid: newMessageId(),
                    text: T.locationShared + " (" + lat.toFixed(5) + ", " + lon.toFixed(5) + ")",
                    status: "sending", body: { location: { latitude: lat, longitude: lon } } });
    }, function (err) {
      el.shareLocation.disabled = false;
      el.shareLocation.removeAttribute("aria-busy");
      showNotice(err && err.code === 1 ? T.geoDenied : T.geoFailed);
      el.input.focus();
    }, { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 });
  }

  // ---- network helpers
  var wakers = [];
  function sleep(seconds) {
    return new Promise(function (resolve) {
      var done = false;
      function finish() { if (done) return; done = true; clearTimeout(t); var i = wakers.indexOf(finish); if (i >= 0) wakers.splice(i, 1); resolve(); }
      var t = setTimeout(finish, seconds * 1000);
      wakers.push(finish);
    });
  }
  function wakeAll() { wakers.slice().forEach(function (f) { f(); }); }

  function fetchWithTimeout(url, opts, ms) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    if (ctrl) opts.signal = ctrl.signal;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, ms) : null;
    return fetch(url, opts).then(function (res) { clearTimeout(timer); return res; },
                                 function (err) { clearTimeout(timer); throw err; });
  }

  function readError(res) {
    return res.text().then(function (body) {
      try {
        var j = JSON.parse(body);
        if (j && typeof j.error === "string" && j.error) return j.error;
        if (j && typeof j.detail === "string" && j.detail) return j.detail;
      } catch (e) { /* not JSON */ }
      return fmt(T.genericError, { status: res.status });
    }, function () { return fmt(T.genericError, { status: res.status }); });
  }

  // ---- sending: one POST at a time, in order; network failures retried with the same client_message_id
  var queue = [];
  var pumping = false;

  function enqueue(job) {
    queue.push(job);
    pump();
  }

  function setStatus(job, status, retryIn, error) {
    var it = job.item;
    if (!it) return;
    it.status = status;
    it._retryIn = retryIn || 0;
    if (error) it.error = error; else delete it.error;
    if (status === "sent") { delete it.body; delete it.error; }
    updateMeta(it);
    save();
  }

  function buildRequest(job) {
    if (job.photo) {
      var fd = new FormData();
      fd.append("photo", job.photo, job.photo.name || "photo.jpg");
      if (job.item && job.item.text) fd.append("text", job.item.text);
      fd.append("client_message_id", job.cid);
      fd.append("language", language);
      return { method: "POST", body: fd, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    }
    var body = {};
    for (var k in job.body) body[k] = job.body[k];
    body.client_message_id = job.cid;
    body.language = language;
    return { method: "POST", body: JSON.stringify(body), credentials: "same-origin",
             headers: { "Content-Type": "application/json", "Accept": "application/json" } };
  }

  function postJob(job) {
    var attempt = 0;
    function tryOnce() {
      setStatus(job, attempt ? "retrying" : "sending");
      return fetchWithTimeout(api, buildRequest(job), job.photo ? PHOTO_TIMEOUT_MS : POST_TIMEOUT_MS)
        .then(function (res) {
          if (res.ok) { setStatus(job, "sent"); return; }
          if (res.status === 413) { return fail(T.photoTooLarge); }
          if (res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500) return retry();
          return readError(res).then(fail);
        }, retry);
    }
    function fail(reason) {
      setStatus(job, "error", 0, reason);
      if (job.item && job.item.kind === "choice") {
        // Let the resident pick again.
        items.forEach(function (b) { if (b.side === "bot" && b.id === job.item.choiceOf) delete b.chosen; });
        refreshControls();
        save();
      }
      if (job.item) showNotice(fmt(T.notSentReason, { reason: reason }));
    }
    function retry() {
      var delay = POST_BACKOFF[Math.min(attempt, POST_BACKOFF.length - 1)];
      attempt++;
      setStatus(job, "retrying", delay);
      return sleep(delay).then(tryOnce);
    }
    return tryOnce();
  }

  function pump() {
    if (pumping) return;
    pumping = true;
    (function next() {
      if (!queue.length) { pumping = false; return; }
      var job = queue[0];
      postJob(job).then(function () { queue.shift(); next(); }, function () { queue.shift(); next(); });
    })();
  }

  // ---- receiving: long polling forever
  var pollFailures = 0;

  function sanitizeOptions(opts) {
    if (!Array.isArray(opts)) return [];
    var out = [];
    opts.forEach(function (o) {
      if (o && o.key != null) out.push({ key: String(o.key), label: String(o.label != null ? o.label : o.key) });
    });
    return out;
  }

  function addBotMessage(m) {
    if (!m || typeof m.id !== "number" || m.id <= lastId) return;
    var it = {
      side: "bot",
      id: m.id,
      text: m.text == null ? "" : String(m.text),
      options: sanitizeOptions(m.options),
      expects: typeof m.expects === "string" ? m.expects : null,
      photo: typeof m.photo === "string" ? m.photo : null
    };
    lastId = m.id;
    items.push(it);
    appendItem(it);
  }

  function setConnection(ok) {
    if (ok) { el.connection.hidden = true; el.connection.textContent = ""; }
    else { el.connection.textContent = T.reconnecting; el.connection.hidden = false; }
  }

  function pollLoop() {
    var started = Date.now();
    fetchWithTimeout(api + "?after=" + encodeURIComponent(lastId) + "&wait=" + POLL_WAIT,
                     { method: "GET", cache: "no-store", credentials: "same-origin", headers: { "Accept": "application/json" } },
                     POLL_TIMEOUT_MS)
      .then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      })
      .then(function (list) {
        if (!Array.isArray(list)) throw new Error("bad response");
        pollFailures = 0;
        setConnection(true);
        if (list.length) {
          list.sort(function (a, b) { return (a && a.id) - (b && b.id); }).forEach(addBotMessage);
          save();
          refreshControls();
          return null;
        }
        // A server that does not hold the request must not make us spin.
        return Date.now() - started < 1000 ? sleep(1) : null;
      })
      .catch(function () {
        var delay = POLL_BACKOFF[Math.min(pollFailures, POLL_BACKOFF.length - 1)];
        pollFailures++;
        if (pollFailures >= 2) setConnection(false);
        return sleep(delay);
      })
      .then(pollLoop, pollLoop);
  }

  // ---- new conversation
  function newConversation(ev) {
    if (ev) ev.preventDefault();
    storeDel(KEY_SESSION);
    storeDel(KEY_LAST);
    storeDel(KEY_TRANSCRIPT);
    window.location.reload();
  }

  // ---- wiring
  function init() {
    applyChrome();

    items.forEach(function (it) { el.list.appendChild(renderItem(it)); });
    refreshControls();

    // Messages left unsent by a previous page: resend with the same id (the server dedups), except photos.
    var pending = [];
    items.forEach(function (it) {
      if (it.side !== "resident") return;
      if (it.status === "sending" || it.status === "retrying") {
        if (it.kind !== "photo" && it.body) pending.push(it);
        else { it.status = "lost"; updateMeta(it); }
      }
    });
    save();

    if (!items.length) {
      el.waiting.hidden = false;
      enqueue({ item: null, body: { start: true }, cid: newMessageId() });
    }
    pending.forEach(function (it) { enqueue({ item: it, body: it.body, cid: it.cid }); });

    el.form.addEventListener("submit", function (ev) { ev.preventDefault(); submit(); });
    el.input.addEventListener("input", function () { autoGrow(); updateSendState(); });
    el.input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        submit();
      }
    });
    el.attach.addEventListener("click", function () { el.photo.click(); });
    el.attachPhoto.addEventListener("click", function () { el.photo.click(); });
    el.photo.addEventListener("change", function () { stagePhoto(el.photo.files && el.photo.files[0]); });
    el.stagedRemove.addEventListener("click", function () { clearStaged(); el.input.focus(); });
    el.shareLocation.addEventListener("click", onShareLocation);
    el.noticeClose.addEventListener("click", hideNotice);
    el.newConversation.addEventListener("click", newConversation);

    window.addEventListener("online", wakeAll);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) wakeAll(); });

    updateSendState();
    autoGrow();
    scrollToBottom();
    pollLoop();
  }

  init();
})();
