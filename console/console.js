/*
 * The counsellors' console: one page over the counsellor API
 * (docs/api.md).  No build step and no external resources; the daemon
 * serves it under a strict Content-Security-Policy, so there is no
 * inline script or style and nothing here uses innerHTML: every piece
 * of data reaches the page through textContent or an attribute.
 *
 * The token lives in sessionStorage only (gone when the tab closes or
 * on sign-out) and travels in the Authorization header, never in a
 * URL.  A caller's number is shown only when the API sends it (to the
 * counsellor holding the task), and each such answer is audited by the
 * daemon, so the page fetches a task's detail only when asked to: on
 * opening, taking or refreshing it, never on a timer.  The number
 * leaves the page when the lease ends (a timer at lease_expires_at, in
 * the server's time) or when the queue shows the task changed hands.
 *
 * Beside the number, for the counsellor holding the task only (the API
 * sends verification_word to the holder and to nobody else), the
 * caller's verification word and a short safety script for the call;
 * they leave the page with the number.
 */
(function () {
  'use strict';

  /* All the page's words, one entry per language.  {0}, {1} are
   * filled in by t(). */
  var STRINGS = {
    vi: {
      title: 'Đường dây nóng — Yêu cầu gọi lại',
      lang_vi: 'Tiếng Việt',
      lang_en: 'English',
      lang_switch: 'Ngôn ngữ',
      sign_in_heading: 'Đăng nhập',
      token_label: 'Mã truy cập của bạn',
      token_placeholder: 'hl_…',
      token_hint: 'Dán mã truy cập. Mã chỉ được giữ trong thẻ trình duyệt này và bị xoá khi bạn đăng xuất hoặc đóng thẻ.',
      token_missing: 'Hãy dán mã truy cập.',
      sign_in: 'Đăng nhập',
      sign_out: 'Đăng xuất',
      signed_out: 'Đã đăng xuất.',
      queue_heading: 'Hàng đợi gọi lại',
      take_next: 'Nhận yêu cầu tiếp theo',
      queue_empty: 'Hàng đợi trống: không có yêu cầu nào đang chờ.',
      queue_none: 'Không có yêu cầu nào đang mở.',
      queue_more: 'Còn yêu cầu khác chưa hiển thị.',
      queue_updated: 'Cập nhật lúc {0}',
      task: 'Yêu cầu #{0}',
      priority_urgent: 'Khẩn cấp',
      priority_normal: 'Thường',
      status_pending: 'Đang chờ',
      status_claimed: 'Đang xử lý',
      status_closed: 'Đã đóng',
      claimed_by: 'bởi {0}',
      you: 'bạn',
      topic_counselling: 'Gặp tư vấn viên',
      topic_urgent: 'Khẩn cấp',
      topic_information: 'Thông tin dịch vụ',
      topic_report: 'Báo tin một trường hợp',
      language_vi: 'Tiếng Việt',
      language_en: 'Tiếng Anh',
      time_now: 'Ngay bây giờ',
      time_morning: 'Buổi sáng',
      time_afternoon: 'Buổi chiều',
      time_evening: 'Buổi tối',
      age_now: 'vừa xong',
      age_minutes: '{0} phút trước',
      age_hours: '{0} giờ {1} phút trước',
      age_days: '{0} ngày trước',
      number_hint: 'Số …{0}',
      number_label: 'Số điện thoại của người gọi',
      number_hidden: 'Số điện thoại chỉ hiện khi bạn nhận yêu cầu này.',
      call: 'Gọi {0}',
      warn_unsafe_call: 'Người gọi nói gọi lại số này KHÔNG an toàn.',
      warn_unsafe_sms: 'Người gọi nói nhắn tin KHÔNG an toàn.',
      badge_do_not_contact: 'Không liên lạc',
      warn_do_not_contact: 'KHÔNG LIÊN LẠC: tư vấn viên đã ghi nhận liên lạc với người này là không an toàn. Không gọi, không nhắn tin cho đến khi họ tự liên lạc lại.',
      word_label: 'Từ xác nhận của người gọi',
      word_none: 'Người gọi không chọn từ xác nhận.',
      script_heading: 'Gọi lại an toàn',
      script_time: 'Trước tiên hỏi: “Bây giờ nói chuyện có tiện không? Bạn có nói chuyện thoải mái được không?”',
      script_word: 'Nói từ “{0}” để người gọi biết đây đúng là chúng ta gọi.',
      script_other: 'Nếu người khác nghe máy: không nhắc gì đến đường dây hay lý do cuộc gọi. Dùng một lý do bình thường (“Xin lỗi, tôi gọi nhầm số” hoặc một cuộc gọi công việc thông thường) rồi kết thúc cuộc gọi.',
      script_outcome: 'Sau đó ghi kết quả: “Không an toàn” nếu người khác nghe máy hoặc nói chuyện không an toàn; “Không trả lời” nếu không ai nghe máy.',
      field_caller: 'Mã ẩn danh',
      field_topic: 'Nhu cầu',
      field_language: 'Ngôn ngữ',
      field_preferred_time: 'Lúc liên lạc an toàn',
      field_safe_to_call: 'Gọi lại an toàn',
      field_safe_to_sms: 'Nhắn tin an toàn',
      field_channel: 'Kênh',
      field_created: 'Gửi lúc',
      field_attempts: 'Số lần đã gọi',
      field_retry: 'Gọi lại lúc',
      field_lease: 'Được giữ đến',
      field_outcome: 'Kết quả',
      yes: 'Có',
      no: 'Không',
      unknown: 'Chưa rõ',
      answers_heading: 'Câu trả lời trong menu',
      answers_none: 'Không có câu trả lời.',
      messages_heading: 'Tin nhắn',
      messages_none: 'Chưa có tin nhắn.',
      msg_in: 'Người gọi',
      msg_out: 'Chúng ta',
      msg_status_pending: 'chờ gửi',
      msg_status_sending: 'đang gửi',
      msg_status_sent: 'đã gửi',
      msg_status_delivered: 'đã nhận',
      msg_status_failed: 'không gửi được',
      msg_status_unknown: 'không rõ',
      notes_heading: 'Ghi chú',
      notes_none: 'Chưa có ghi chú.',
      outcome_heading: 'Ghi kết quả cuộc gọi',
      outcome_label: 'Kết quả',
      outcome_choose: '— Chọn kết quả —',
      outcome_reached: 'Đã nói chuyện được',
      outcome_no_answer: 'Không trả lời',
      outcome_wrong_number: 'Sai số',
      outcome_unsafe: 'Không an toàn',
      outcome_unreached: 'Không liên lạc được',
      outcome_erased: 'Đã xoá theo yêu cầu',
      outcome_missing: 'Hãy chọn một kết quả.',
      outcome_saved: 'Đã lưu kết quả cho yêu cầu #{0}: {1}.',
      retry_label: 'Gọi lại lúc (không bắt buộc)',
      retry_hint: 'Để trống thì hệ thống tự chọn giờ gọi lại.',
      retry_bad: 'Giờ gọi lại không hợp lệ.',
      outcome_note_label: 'Ghi chú (không bắt buộc)',
      complete: 'Lưu kết quả',
      add_note_heading: 'Thêm ghi chú',
      note_label: 'Ghi chú',
      add_note: 'Thêm ghi chú',
      note_empty: 'Ghi chú đang trống.',
      note_saved: 'Đã thêm ghi chú.',
      sms_heading: 'Nhắn tin cho người gọi',
      sms_label: 'Nội dung tin nhắn',
      send_sms: 'Gửi tin nhắn',
      sms_empty: 'Tin nhắn đang trống.',
      sms_queued: 'Tin nhắn đã được xếp hàng để gửi.',
      too_long: 'Quá dài: tối đa 4 KiB.',
      claim: 'Nhận yêu cầu này',
      claimed: 'Bạn đã nhận yêu cầu #{0}.',
      release: 'Trả lại hàng đợi',
      released: 'Yêu cầu #{0} đã trở lại hàng đợi.',
      lease_ended: 'Đã hết thời gian giữ yêu cầu #{0}; số điện thoại đã được ẩn. Nhận lại yêu cầu nếu cần gọi.',
      task_moved: 'Yêu cầu #{0} vừa được trả lại, được người khác nhận hoặc đã đóng; số điện thoại đã được ẩn.',
      hold_other: 'Bạn đang giữ yêu cầu #{0}: hãy lưu kết quả hoặc trả lại hàng đợi trước khi nhận yêu cầu khác.',
      refresh: 'Tải lại',
      close_task: 'Đóng',
      err_network: 'Không kết nối được máy chủ. Kiểm tra mạng rồi thử lại.',
      err_status: 'Máy chủ báo lỗi (HTTP {0}).',
      err_retry_after: '{0} (Thử lại sau {1} giây.)'
    },
    en: {
      title: 'Hotline — Callback requests',
      lang_vi: 'Tiếng Việt',
      lang_en: 'English',
      lang_switch: 'Language',
      sign_in_heading: 'Sign in',
      token_label: 'Your access token',
      token_placeholder: 'hl_…',
      token_hint: 'Paste your access token. It is kept only in this browser tab and is cleared when you sign out or close the tab.',
      token_missing: 'Paste your access token.',
      sign_in: 'Sign in',
      sign_out: 'Sign out',
      signed_out: 'Signed out.',
      queue_heading: 'Callback queue',
      take_next: 'Take next',
      queue_empty: 'The queue is empty: no request is waiting.',
      queue_none: 'No open requests.',
      queue_more: 'More requests are not shown.',
      queue_updated: 'Updated {0}',
      task: 'Request #{0}',
      priority_urgent: 'Urgent',
      priority_normal: 'Normal',
      status_pending: 'Waiting',
      status_claimed: 'Taken',
      status_closed: 'Closed',
      claimed_by: 'by {0}',
      you: 'you',
      topic_counselling: 'Talk to a counsellor',
      topic_urgent: 'Urgent',
      topic_information: 'Information',
      topic_report: 'Report a case',
      language_vi: 'Vietnamese',
      language_en: 'English',
      time_now: 'Now',
      time_morning: 'Morning',
      time_afternoon: 'Afternoon',
      time_evening: 'Evening',
      age_now: 'just now',
      age_minutes: '{0} min ago',
      age_hours: '{0} h {1} min ago',
      age_days: '{0} days ago',
      number_hint: 'Number …{0}',
      number_label: "Caller's number",
      number_hidden: 'The number shows only once you take this request.',
      call: 'Call {0}',
      warn_unsafe_call: 'The caller said calling this number back is NOT safe.',
      warn_unsafe_sms: 'The caller said texting is NOT safe.',
      badge_do_not_contact: 'Do not contact',
      warn_do_not_contact: 'DO NOT CONTACT: a counsellor recorded that contacting this caller is not safe. Do not call or text until they make contact again themselves.',
      word_label: "The caller's verification word",
      word_none: 'The caller chose no verification word.',
      script_heading: 'Calling back safely',
      script_time: 'First ask: “Is this a good time to talk? Can you speak freely?”',
      script_word: 'Say the word “{0}” so they know the call is really from us.',
      script_other: 'If someone else answers: say nothing about the helpline or why you are calling. Use a neutral cover (“Sorry, wrong number”, or an ordinary business call) and end the call.',
      script_outcome: 'Afterwards record the outcome: “Unsafe” if someone else answered or it was not safe to talk; “No answer” if nobody picked up.',
      field_caller: 'Pseudonym',
      field_topic: 'Need',
      field_language: 'Language',
      field_preferred_time: 'Safe time to contact',
      field_safe_to_call: 'Safe to call back',
      field_safe_to_sms: 'Safe to text',
      field_channel: 'Channel',
      field_created: 'Requested',
      field_attempts: 'Call attempts',
      field_retry: 'Try again at',
      field_lease: 'Held until',
      field_outcome: 'Outcome',
      yes: 'Yes',
      no: 'No',
      unknown: 'Not given',
      answers_heading: 'Menu answers',
      answers_none: 'No answers.',
      messages_heading: 'Messages',
      messages_none: 'No messages yet.',
      msg_in: 'Caller',
      msg_out: 'Us',
      msg_status_pending: 'waiting to send',
      msg_status_sending: 'sending',
      msg_status_sent: 'sent',
      msg_status_delivered: 'delivered',
      msg_status_failed: 'not sent',
      msg_status_unknown: 'unknown',
      notes_heading: 'Notes',
      notes_none: 'No notes yet.',
      outcome_heading: 'Record the outcome',
      outcome_label: 'Outcome',
      outcome_choose: '— Choose an outcome —',
      outcome_reached: 'Reached',
      outcome_no_answer: 'No answer',
      outcome_wrong_number: 'Wrong number',
      outcome_unsafe: 'Unsafe',
      outcome_unreached: 'Unreached',
      outcome_erased: 'Erased on request',
      outcome_missing: 'Choose an outcome.',
      outcome_saved: 'Outcome saved for request #{0}: {1}.',
      retry_label: 'Try again at (optional)',
      retry_hint: 'Leave empty to let the system choose.',
      retry_bad: 'The retry time is not valid.',
      outcome_note_label: 'Note (optional)',
      complete: 'Save outcome',
      add_note_heading: 'Add a note',
      note_label: 'Note',
      add_note: 'Add note',
      note_empty: 'The note is empty.',
      note_saved: 'Note added.',
      sms_heading: 'Text the caller',
      sms_label: 'Message',
      send_sms: 'Send text',
      sms_empty: 'The message is empty.',
      sms_queued: 'The text is queued to send.',
      too_long: 'Too long: 4 KiB at most.',
      claim: 'Take this request',
      claimed: 'You took request #{0}.',
      release: 'Give back to the queue',
      released: 'Request #{0} is back in the queue.',
      lease_ended: 'The hold on request #{0} has ended; the number is hidden. Take the request again to call.',
      task_moved: 'Request #{0} was given back, taken by someone else or closed; the number is hidden.',
      hold_other: 'You hold request #{0}: save its outcome or give it back before taking another.',
      refresh: 'Refresh',
      close_task: 'Close',
      err_network: 'Cannot reach the server. Check the connection and try again.',
      err_status: 'The server answered with an error (HTTP {0}).',
      err_retry_after: '{0} (Try again in {1} s.)'
    }
  };

  var LANGS = ['vi', 'en'];
  var LOCALES = { vi: 'vi-VN', en: 'en-GB' };
  var KEY_TOKEN = 'hotline.token';
  var KEY_LANG = 'hotline.lang';
  var KEY_ME = 'hotline.me';
  var KEY_TASK = 'hotline.task';
  var POLL_MS = 5000;
  var TEXT_MAX_BYTES = 4096;

  var state = {
    lang: 'vi',
    token: null,
    me: null,            /* our token's name, learned from a claim */
    queue: null,         /* the last list answer */
    task: null,          /* the task on screen, with its detail */
    pollTimer: null,
    polling: false,
    pollAgain: false,
    taskSeq: 0,          /* bumped whenever the task on screen is replaced */
    leaseTimer: null,    /* hides the number when the task's lease ends */
    clockSkew: 0,        /* the server's clock minus ours, in ms */
    generation: 0        /* bumped on sign-out: late answers are dropped */
  };

  function $(id) { return document.getElementById(id); }

  /* Session storage can be refused (privacy modes): the page still
   * works for as long as it stays open. */
  function store(key, value) {
    try {
      if (value === null || value === undefined) {
        window.sessionStorage.removeItem(key);
      } else {
        window.sessionStorage.setItem(key, value);
      }
    } catch (e) { /* kept in memory only */ }
  }

  function load(key) {
    try { return window.sessionStorage.getItem(key); } catch (e) { return null; }
  }

  function t(key) {
    var table = STRINGS[state.lang] || STRINGS.vi;
    var s = Object.prototype.hasOwnProperty.call(table, key) ? table[key] :
      (STRINGS.en[key] !== undefined ? STRINGS.en[key] : key);
    var args = Array.prototype.slice.call(arguments, 1);
    return s.replace(/\{(\d)\}/g, function (m, i) {
      return args[i] === undefined ? m : String(args[i]);
    });
  }

  /* A label for a value the API spells in snake_case, or the value
   * itself when the dictionary has no word for it. */
  function label(prefix, value) {
    if (value === null || value === undefined || value === '') return t('unknown');
    var key = prefix + value;
    var table = STRINGS[state.lang];
    return Object.prototype.hasOwnProperty.call(table, key) ? t(key) : String(value);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function show(node, visible) { node.hidden = !visible; }

  function fmtTime(iso) {
    if (!iso) return t('unknown');
    var d = new Date(iso);
    if (isNaN(d.getTime())) return String(iso);
    try {
      return new Intl.DateTimeFormat(LOCALES[state.lang],
        { dateStyle: 'short', timeStyle: 'short' }).format(d);
    } catch (e) {
      return d.toLocaleString();
    }
  }

  function fmtAge(iso) {
    var d = new Date(iso);
    if (!iso || isNaN(d.getTime())) return t('unknown');
    var minutes = Math.max(0, Math.floor((Date.now() - d.getTime()) / 60000));
    if (minutes < 1) return t('age_now');
    if (minutes < 60) return t('age_minutes', minutes);
    if (minutes < 24 * 60) return t('age_hours', Math.floor(minutes / 60), minutes % 60);
    return t('age_days', Math.floor(minutes / (24 * 60)));
  }

  function yesNo(v) {
    if (v === true) return t('yes');
    if (v === false) return t('no');
    return t('unknown');
  }

  function byteLength(s) {
    return new TextEncoder().encode(s).length;
  }

  /* Messages ---------------------------------------------------------- */

  function say(text, kind) {
    var m = $('message');
    m.textContent = text;
    m.setAttribute('data-kind', kind || 'info');
    m.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    show(m, true);
  }

  function sayError(err) {
    if (err && err.message) {
      var text = err.message;
      if (err.retryAfter) text = t('err_retry_after', text, err.retryAfter);
      say(text, 'error');
    } else {
      say(t('err_network'), 'error');
    }
  }

  function hush() {
    var m = $('message');
    m.textContent = '';
    m.removeAttribute('data-kind');
    show(m, false);
  }

  /* The API --------------------------------------------------------- */

  function ApiError(status, code, message, retryAfter) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.retryAfter = retryAfter || null;
  }

  /* The API's base, relative to the page (/console/ → /v1/), so the
   * console works behind a proxy that mounts the daemon under a
   * prefix. */
  function apiUrl(path) {
    return new URL('../v1/' + path, window.location.href).toString();
  }

  function api(method, path, body) {
    var gen = state.generation;
    var headers = { 'Accept': 'application/json' };
    if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
    var init = {
      method: method,
      headers: headers,
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
      referrerPolicy: 'no-referrer'
    };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(apiUrl(path), init).then(function (res) {
      learnClock(res);
      return res.text().then(function (text) {
        var data = null;
        if (text) {
          try { data = JSON.parse(text); } catch (e) { data = null; }
        }
        if (gen !== state.generation) {
          /* Signed out (or in again) meanwhile: nothing to show. */
          throw new ApiError(0, 'stale', '');
        }
        if (res.ok) return { status: res.status, data: data };
        var e = data && data.error ? data.error : null;
        var err = new ApiError(res.status,
          e && typeof e.code === 'string' ? e.code : 'http_' + res.status,
          e && typeof e.message === 'string' && e.message ? e.message :
            t('err_status', res.status),
          res.headers.get('Retry-After'));
        if (res.status === 401) signOut(err.message);
        throw err;
      });
    }, function () {
      throw new ApiError(0, 'network', t('err_network'));
    });
  }

  /* Leases are in the server's time; a phone's clock may be off by
   * more than a lease lasts.  The Date header has whole seconds. */
  function learnClock(res) {
    var server = Date.parse(res.headers.get('Date') || '');
    if (!isNaN(server)) state.clockSkew = server + 500 - Date.now();
  }

  function serverNow() { return Date.now() + state.clockSkew; }

  /* Runs an action with its button disabled, so a double tap cannot
   * claim two tasks; shows the API's message if it fails. */
  function busy(button, action) {
    if (button.disabled) return Promise.resolve();
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    return Promise.resolve().then(action).catch(function (err) {
      if (err && err.code === 'stale') return;
      sayError(err);
    }).then(function () {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    });
  }

  /* Language -------------------------------------------------------- */

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t('title');
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
    }
    nodes = document.querySelectorAll('[data-i18n-placeholder]');
    for (i = 0; i < nodes.length; i++) {
      nodes[i].placeholder = t(nodes[i].getAttribute('data-i18n-placeholder'));
    }
    nodes = document.querySelectorAll('[data-i18n-label]');
    for (i = 0; i < nodes.length; i++) {
      nodes[i].setAttribute('aria-label', t(nodes[i].getAttribute('data-i18n-label')));
    }
    LANGS.forEach(function (l) {
      $('lang-' + l).setAttribute('aria-pressed', l === state.lang ? 'true' : 'false');
    });
    renderQueue();
    renderTask();
  }

  function setLanguage(lang) {
    if (LANGS.indexOf(lang) < 0 || lang === state.lang) return;
    state.lang = lang;
    store(KEY_LANG, lang);
    hush();
    applyLanguage();
    /* The menu answers come from the API in the language asked for. */
    if (state.task) openTask(state.task.id).catch(sayError);
  }

  /* Signing in and out ---------------------------------------------- */

  function signIn(ev) {
    ev.preventDefault();
    var input = $('token');
    var token = input.value.trim();
    if (!token) {
      say(t('token_missing'), 'error');
      input.focus();
      return;
    }
    input.value = '';
    state.token = token;
    store(KEY_TOKEN, token);
    hush();
    enterApp();
  }

  function enterApp() {
    show($('signin'), false);
    show($('app'), true);
    show($('sign-out'), true);
    startPolling();
    var pending = taskFromLink() || load(KEY_TASK);
    if (pending && /^\d+$/.test(pending)) {
      openTask(Number(pending)).catch(function (err) {
        if (err && err.code === 'stale') return;
        store(KEY_TASK, null);
        sayError(err);
      });
    }
  }

  /* An urgent alert links to the console with #task-N. */
  function taskFromLink() {
    var m = /^#task-(\d+)$/.exec(window.location.hash);
    if (!m) return null;
    if (window.history && window.history.replaceState) {
      window.history.replaceState(null, '', window.location.pathname + window.location.search);
    }
    return m[1];
  }

  function signOut(why) {
    state.generation++;
    stopPolling();
    state.polling = false;
    state.pollAgain = false;
    state.token = null;
    state.me = null;
    state.queue = null;
    state.task = null;
    state.taskSeq++;
    armLease();
    store(KEY_TOKEN, null);
    store(KEY_ME, null);
    store(KEY_TASK, null);
    clear($('queue'));
    renderTask();
    show($('app'), false);
    show($('sign-out'), false);
    show($('signin'), true);
    $('token').value = '';
    if (why) say(why, 'error');
    else say(t('signed_out'), 'info');
    $('token').focus();
  }

  /* The queue ------------------------------------------------------- */

  function startPolling() {
    stopPolling();
    refreshQueue();
    state.pollTimer = window.setInterval(refreshQueue, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer !== null) window.clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  /* One list request at a time; one asked for meanwhile (after an
   * action changed the queue) runs when it ends, so the page never
   * settles on a list older than the action. */
  function refreshQueue() {
    if (!state.token) return Promise.resolve();
    if (state.polling) {
      state.pollAgain = true;
      return Promise.resolve();
    }
    state.polling = true;
    state.pollAgain = false;
    var seq = state.taskSeq;
    return api('GET', 'callbacks?status=open&limit=200').then(function (r) {
      state.queue = r.data && Array.isArray(r.data.tasks) ? r.data : { tasks: [], next_cursor: null };
      state.queue.fetchedAt = new Date();
      /* A list asked for before the task on screen was last answered
       * for (a claim, say) may be older than it: only a later one
       * says anything about it. */
      if (seq === state.taskSeq) checkTask();
      armLease();
      renderQueue();
    }).catch(function (err) {
      if (err && err.code !== 'stale') sayError(err);
    }).then(function () {
      state.polling = false;
      if (state.pollAgain) {
        state.pollAgain = false;
        return refreshQueue();
      }
    });
  }

  function queueRow(task) {
    var li = el('li', 'task-row');
    li.setAttribute('data-task-id', String(task.id));
    li.setAttribute('data-status', String(task.status));
    if (task.priority === 'urgent') li.classList.add('urgent');
    if (state.task && state.task.id === task.id) li.classList.add('current');

    var button = el('button', 'row-button');
    button.type = 'button';
    button.setAttribute('data-task-id', String(task.id));

    var top = el('span', 'row-top');
    top.appendChild(el('span', 'row-id', '#' + task.id));
    top.appendChild(el('span', 'badge ' + (task.priority === 'urgent' ? 'urgent' : 'neutral'),
      label('priority_', task.priority)));
    top.appendChild(el('span', 'row-topic', label('topic_', task.topic)));
    if (task.do_not_contact === true) {
      li.classList.add('do-not-contact');
      top.appendChild(el('span', 'badge do-not-contact', t('badge_do_not_contact')));
    }
    button.appendChild(top);

    var meta = el('span', 'row-meta');
    meta.appendChild(el('span', 'row-age', fmtAge(task.created_at)));
    meta.appendChild(el('span', 'row-lang', label('language_', task.language)));
    var status = label('status_', task.status);
    if (task.status === 'claimed' && task.claimed_by) {
      status += ' ' + t('claimed_by', task.claimed_by === state.me ? t('you') : task.claimed_by);
    }
    meta.appendChild(el('span', 'row-status', status));
    /* A list never carries the number; only the hint is shown, and
     * only its digits. */
    var hint = hintDigits(task.number_hint);
    if (hint) meta.appendChild(el('span', 'row-hint', t('number_hint', hint)));
    button.appendChild(meta);

    li.appendChild(button);
    return li;
  }

  function hintDigits(hint) {
    if (typeof hint !== 'string') return '';
    var digits = hint.replace(/\D/g, '');
    return digits.slice(-2);
  }

  function renderQueue() {
    var list = $('queue');
    clear(list);
    var q = state.queue;
    if (!q) {
      show($('queue-empty'), false);
      show($('queue-more'), false);
      $('queue-updated').textContent = '';
      return;
    }
    q.tasks.forEach(function (task) { list.appendChild(queueRow(task)); });
    show($('queue-empty'), q.tasks.length === 0);
    show($('queue-more'), !!q.next_cursor);
    $('queue-updated').textContent = t('queue_updated', fmtTime(q.fetchedAt.toISOString()));
  }

  function queueRowFor(id) {
    var tasks = state.queue ? state.queue.tasks : [];
    for (var i = 0; i < tasks.length; i++) {
      if (tasks[i].id === id) return tasks[i];
    }
    return null;
  }

  /* The list against the task on screen: when the task changed hands
   * since it was shown (released, taken by someone else, lease run
   * out and given back, closed), its number leaves the page. */
  function checkTask() {
    var task = state.task;
    var q = state.queue;
    if (!task || !q || task.status === 'closed') return;
    var row = queueRowFor(task.id);
    if (!row) {
      /* Not in the whole open list: closed.  Beyond a partial list:
       * not known (the lease timer still runs). */
      if (q.next_cursor) return;
      hideNumber(task, 'task_moved');
      task.status = 'closed';
      renderTask();
      return;
    }
    var moved = row.status !== task.status ||
      (row.claimed_by || null) !== (task.claimed_by || null);
    if (!moved && row.lease_expires_at === task.lease_expires_at) return;
    var ended = leaseEnd(task);
    var key = ended !== null && ended <= serverNow() ? 'lease_ended' : 'task_moved';
    Object.keys(row).forEach(function (k) {
      if (k !== 'msisdn') task[k] = row[k];
    });
    if (moved) hideNumber(task, key);
    renderTask();
  }

  /* When the task's lease runs out, in the server's time. */
  function leaseEnd(task) {
    if (!task || task.status !== 'claimed' || !task.lease_expires_at) return null;
    var end = Date.parse(task.lease_expires_at);
    return isNaN(end) ? null : end;
  }

  /* A timer at the end of the lease of the task on screen, when it
   * is held by us or shows a number; re-armed at most a minute ahead,
   * so a corrected clock or a woken phone is caught up with. */
  function armLease() {
    if (state.leaseTimer !== null) window.clearTimeout(state.leaseTimer);
    state.leaseTimer = null;
    var task = state.task;
    if (!task || task.lapsed) return;
    var mine = state.me !== null && task.claimed_by === state.me;
    if (!mine && typeof task.msisdn !== 'string') return;
    var end = leaseEnd(task);
    if (end === null) return;
    var wait = end - serverNow();
    if (wait <= 0) {
      hideNumber(task, 'lease_ended');
      renderTask();
      return;
    }
    state.leaseTimer = window.setTimeout(armLease, Math.min(wait + 250, 60000));
  }

  /* The task is no longer held as it was when shown: no number, and
   * no actions of a holder until it is claimed (or refreshed) again. */
  function hideNumber(task, key) {
    var shown = typeof task.msisdn === 'string';
    delete task.msisdn;
    delete task.verification_word;
    task.lapsed = true;
    if (state.task === task) {
      if (state.leaseTimer !== null) window.clearTimeout(state.leaseTimer);
      state.leaseTimer = null;
    }
    if (shown) say(t(key, task.id), 'info');
  }

  /* next and claim answer 409 while we hold another task: name it in
   * the page's words when the list shows which. */
  function explainConflict(wanted) {
    return function (err) {
      if (err && err.status === 409 && err.code === 'conflict' && state.me !== null) {
        var tasks = state.queue ? state.queue.tasks : [];
        for (var i = 0; i < tasks.length; i++) {
          var end = leaseEnd(tasks[i]);
          if (tasks[i].id !== wanted && tasks[i].claimed_by === state.me &&
              end !== null && end > serverNow()) {
            throw new ApiError(409, 'conflict', t('hold_other', tasks[i].id));
          }
        }
      }
      throw err;
    };
  }

  function onQueueClick(ev) {
    var button = ev.target.closest('button[data-task-id]');
    if (!button) return;
    var id = Number(button.getAttribute('data-task-id'));
    hush();
    openTask(id).catch(sayError);
  }

  function takeNext() {
    return busy($('take-next'), function () {
      hush();
      return api('POST', 'callbacks/next', {}).then(function (r) {
        if (r.status === 204 || !r.data) {
          say(t('queue_empty'), 'info');
          return refreshQueue();
        }
        learnMe(r.data);
        showTask(r.data);
        say(t('claimed', r.data.id), 'ok');
        refreshQueue();
        return openTask(r.data.id);
      }, explainConflict(null));
    });
  }

  function learnMe(task) {
    if (task && task.status === 'claimed' && typeof task.claimed_by === 'string') {
      state.me = task.claimed_by;
      store(KEY_ME, state.me);
    }
  }

  /* One task -------------------------------------------------------- */

  function openTask(id) {
    return api('GET', 'callbacks/' + encodeURIComponent(id) + '?lang=' + state.lang)
      .then(function (r) {
        showTask(r.data);
      });
  }

  function showTask(task) {
    var same = state.task && state.task.id === task.id;
    /* The answer to next/claim has no detail: keep what was shown. */
    if (same) {
      ['notes', 'messages', 'answers'].forEach(function (k) {
        if (task[k] === undefined && state.task[k] !== undefined) task[k] = state.task[k];
      });
    }
    state.task = task;
    state.taskSeq++;
    store(KEY_TASK, String(task.id));
    if (!same) resetForms();
    renderTask();
    renderQueue();
    armLease();
    if (!same) $('task-detail').scrollIntoView({ block: 'start' });
  }

  function closeTask() {
    state.task = null;
    state.taskSeq++;
    armLease();
    store(KEY_TASK, null);
    resetForms();
    renderTask();
    renderQueue();
  }

  function resetForms() {
    $('outcome').value = '';
    $('note').value = '';
    $('retry-at').value = '';
    $('new-note').value = '';
    $('sms-text').value = '';
    show($('retry-row'), false);
  }

  function field(dl, key, value) {
    dl.appendChild(el('dt', null, t(key)));
    dl.appendChild(el('dd', null, value));
  }

  function renderTask() {
    var section = $('task-detail');
    var task = state.task;
    if (!task) {
      /* Nothing of the last task (its number least of all) stays in
       * the page. */
      ['task-heading', 'task-priority', 'task-status'].forEach(function (id) {
        $(id).textContent = '';
      });
      ['task-warnings', 'task-number', 'task-word', 'script-steps', 'task-fields',
        'answers', 'messages', 'notes']
        .forEach(function (id) { clear($(id)); });
      show($('call-script'), false);
      section.removeAttribute('data-task-id');
      section.removeAttribute('data-status');
      show(section, false);
      return;
    }
    section.setAttribute('data-task-id', String(task.id));
    section.setAttribute('data-status', String(task.status));
    $('task-heading').textContent = t('task', task.id);
    var pri = $('task-priority');
    pri.textContent = label('priority_', task.priority);
    pri.className = 'badge ' + (task.priority === 'urgent' ? 'urgent' : 'neutral');
    var status = label('status_', task.status);
    if (task.status === 'claimed' && task.claimed_by) {
      status += ' ' + t('claimed_by', task.claimed_by === state.me ? t('you') : task.claimed_by);
    }
    if (task.status === 'closed' && task.outcome) {
      status += ': ' + label('outcome_', task.outcome);
    }
    $('task-status').textContent = status;

    var warn = $('task-warnings');
    clear(warn);
    /* First and loudest: it overrides every answer below. */
    if (task.do_not_contact === true) {
      var dnc = el('p', 'warning do-not-contact');
      dnc.appendChild(el('span', 'badge do-not-contact', t('badge_do_not_contact')));
      dnc.appendChild(document.createTextNode(' ' + t('warn_do_not_contact')));
      warn.appendChild(dnc);
    }
    if (task.safe_to_call === false) warn.appendChild(el('p', 'warning', t('warn_unsafe_call')));
    if (task.safe_to_sms === false) warn.appendChild(el('p', 'warning', t('warn_unsafe_sms')));

    var number = $('task-number');
    clear(number);
    if (typeof task.msisdn === 'string' && task.msisdn) {
      number.appendChild(el('span', 'number-label', t('number_label')));
      var a = el('a', 'tel', task.msisdn);
      a.id = 'tel-link';
      a.setAttribute('href', 'tel:' + task.msisdn.replace(/[^\d+]/g, ''));
      a.setAttribute('aria-label', t('call', task.msisdn));
      number.appendChild(a);
    } else {
      var hint = hintDigits(task.number_hint);
      if (hint) number.appendChild(el('span', 'number-label', t('number_hint', hint)));
      if (task.status !== 'closed') number.appendChild(el('p', 'hint', t('number_hidden')));
    }

    renderScript(task);

    var dl = $('task-fields');
    clear(dl);
    field(dl, 'field_topic', label('topic_', task.topic));
    field(dl, 'field_language', label('language_', task.language));
    field(dl, 'field_preferred_time', label('time_', task.preferred_time));
    field(dl, 'field_safe_to_call', yesNo(task.safe_to_call));
    field(dl, 'field_safe_to_sms', yesNo(task.safe_to_sms));
    field(dl, 'field_created', fmtTime(task.created_at) + ' (' + fmtAge(task.created_at) + ')');
    field(dl, 'field_attempts', String(task.attempts === undefined ? 0 : task.attempts));
    if (task.retry_at) field(dl, 'field_retry', fmtTime(task.retry_at));
    if (task.status === 'claimed' && task.lease_expires_at) field(dl, 'field_lease', fmtTime(task.lease_expires_at));
    if (task.outcome) field(dl, 'field_outcome', label('outcome_', task.outcome));
    field(dl, 'field_channel', task.channel || t('unknown'));
    field(dl, 'field_caller', task.caller || t('unknown'));

    var answers = $('answers');
    clear(answers);
    var list = Array.isArray(task.answers) ? task.answers : [];
    list.forEach(function (qa) {
      answers.appendChild(el('dt', null, qa.question));
      answers.appendChild(el('dd', null, qa.answer));
    });
    if (!list.length) answers.appendChild(el('dd', 'hint', t('answers_none')));

    renderMessages();
    renderNotes();

    var open = task.status !== 'closed';
    /* Held by us, or a supervisor's view (the number is sent to the
     * holder and to supervisors only); the API has the last word.  A
     * lapsed task (lease over, or changed hands) must be claimed or
     * refreshed again first. */
    var live = !task.lapsed;
    var held = live && task.status === 'claimed' &&
      ((state.me !== null && task.claimed_by === state.me) || typeof task.msisdn === 'string');
    show($('held-actions'), open && held);
    show($('release'), open && live && task.status === 'claimed');
    show($('claim'), open && !held);
    show(section, true);
  }

  /* The word and the script go with the number, to the holder only:
   * the API sends verification_word (a string, or null when the
   * caller chose none) exactly when it is shown to the lease holder. */
  function renderScript(task) {
    var box = $('call-script');
    var wordLine = $('task-word');
    var steps = $('script-steps');
    clear(wordLine);
    clear(steps);
    var holder = !task.lapsed && typeof task.msisdn === 'string' && task.msisdn &&
      Object.prototype.hasOwnProperty.call(task, 'verification_word');
    if (!holder) {
      show(box, false);
      return;
    }
    var word = typeof task.verification_word === 'string' ? task.verification_word : '';
    if (word) {
      wordLine.appendChild(el('span', 'number-label', t('word_label')));
      var value = el('span', 'word-value', word);
      value.id = 'word-value';
      wordLine.appendChild(value);
    } else {
      wordLine.appendChild(el('span', 'hint', t('word_none')));
    }
    var lines = [t('script_time')];
    if (word) lines.push(t('script_word', word));
    lines.push(t('script_other'), t('script_outcome'));
    lines.forEach(function (text) { steps.appendChild(el('li', null, text)); });
    show(box, true);
  }

  function renderMessages() {
    var ol = $('messages');
    clear(ol);
    var list = state.task && Array.isArray(state.task.messages) ? state.task.messages : [];
    list.forEach(function (m) {
      var out = m.direction === 'out';
      var li = el('li', 'msg ' + (out ? 'out' : 'in'));
      li.setAttribute('data-direction', out ? 'out' : 'in');
      var meta = t(out ? 'msg_out' : 'msg_in') + ' · ' + fmtTime(m.at);
      if (out && m.status) meta += ' · ' + label('msg_status_', m.status);
      li.appendChild(el('span', 'meta', meta));
      li.appendChild(el('p', 'text', m.text));
      ol.appendChild(li);
    });
    if (!list.length) ol.appendChild(el('li', 'hint', t('messages_none')));
  }

  function renderNotes() {
    var ol = $('notes');
    clear(ol);
    var list = state.task && Array.isArray(state.task.notes) ? state.task.notes : [];
    list.forEach(function (n) {
      var li = el('li', 'note');
      li.appendChild(el('span', 'meta', (n.author || '') + ' · ' + fmtTime(n.created_at)));
      li.appendChild(el('p', 'text', n.text));
      ol.appendChild(li);
    });
    if (!list.length) ol.appendChild(el('li', 'hint', t('notes_none')));
  }

  /* Actions on the task on screen ----------------------------------- */

  function taskPath(suffix) {
    return 'callbacks/' + encodeURIComponent(state.task.id) + '/' + suffix;
  }

  function checkText(text, emptyKey, input) {
    if (!text) {
      say(t(emptyKey), 'error');
      input.focus();
      return false;
    }
    if (byteLength(text) > TEXT_MAX_BYTES) {
      say(t('too_long'), 'error');
      input.focus();
      return false;
    }
    return true;
  }

  /* datetime-local is the counsellor's local time; the API takes
   * RFC 3339. */
  function retryAt() {
    var v = $('retry-at').value;
    if (!v) return null;
    var d = new Date(v);
    if (isNaN(d.getTime())) return undefined;
    return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  function complete(ev) {
    ev.preventDefault();
    if (!state.task) return;
    var outcome = $('outcome').value;
    if (!outcome) {
      say(t('outcome_missing'), 'error');
      $('outcome').focus();
      return;
    }
    var body = { outcome: outcome };
    var note = $('note').value.trim();
    if (note) {
      if (!checkText(note, 'note_empty', $('note'))) return;
      body.note = note;
    }
    if (outcome === 'no_answer') {
      var when = retryAt();
      if (when === undefined) {
        say(t('retry_bad'), 'error');
        return;
      }
      if (when) body.retry_at = when;
    }
    var id = state.task.id;
    busy($('complete'), function () {
      hush();
      return api('POST', taskPath('complete'), body).then(function (r) {
        var result = r.data && r.data.outcome ? r.data.outcome : outcome;
        closeTask();
        say(t('outcome_saved', id, label('outcome_', result)), 'ok');
        return refreshQueue();
      });
    });
  }

  function addNote(ev) {
    ev.preventDefault();
    if (!state.task) return;
    var input = $('new-note');
    var text = input.value.trim();
    if (!checkText(text, 'note_empty', input)) return;
    var task = state.task;
    busy($('add-note'), function () {
      hush();
      return api('POST', taskPath('notes'), { text: text }).then(function (r) {
        if (state.task === task) {
          if (!Array.isArray(task.notes)) task.notes = [];
          task.notes.push(r.data && r.data.text ? r.data :
            { author: state.me || '', text: text, created_at: new Date().toISOString() });
          renderNotes();
        }
        input.value = '';
        say(t('note_saved'), 'ok');
      });
    });
  }

  function sendText(ev) {
    ev.preventDefault();
    if (!state.task) return;
    var input = $('sms-text');
    var text = input.value.trim();
    if (!checkText(text, 'sms_empty', input)) return;
    var task = state.task;
    busy($('send-sms'), function () {
      hush();
      return api('POST', taskPath('messages'), { text: text }).then(function (r) {
        if (state.task === task) {
          if (!Array.isArray(task.messages)) task.messages = [];
          task.messages.push({ direction: 'out', text: text, at: new Date().toISOString(),
            status: r.data && r.data.status ? r.data.status : 'pending' });
          renderMessages();
        }
        input.value = '';
        say(t('sms_queued'), 'ok');
      });
    });
  }

  function release() {
    if (!state.task) return;
    var id = state.task.id;
    busy($('release'), function () {
      hush();
      return api('POST', taskPath('release')).then(function () {
        closeTask();
        say(t('released', id), 'ok');
        return refreshQueue();
      });
    });
  }

  function claim() {
    if (!state.task) return;
    var id = state.task.id;
    busy($('claim'), function () {
      hush();
      return api('POST', taskPath('claim')).then(function (r) {
        learnMe(r.data);
        showTask(r.data);
        say(t('claimed', r.data.id), 'ok');
        return refreshQueue();
      }, explainConflict(id));
    });
  }

  function refreshTask() {
    if (!state.task) return;
    var id = state.task.id;
    busy($('refresh-task'), function () {
      hush();
      return openTask(id);
    });
  }

  /* Start ----------------------------------------------------------- */

  function init() {
    var lang = load(KEY_LANG);
    state.lang = LANGS.indexOf(lang) >= 0 ? lang : 'vi';
    state.me = load(KEY_ME);

    $('signin-form').addEventListener('submit', signIn);
    $('sign-out').addEventListener('click', function () { signOut(null); });
    LANGS.forEach(function (l) {
      $('lang-' + l).addEventListener('click', function () { setLanguage(l); });
    });
    $('take-next').addEventListener('click', takeNext);
    $('queue').addEventListener('click', onQueueClick);
    $('outcome-form').addEventListener('submit', complete);
    $('outcome').addEventListener('change', function () {
      show($('retry-row'), $('outcome').value === 'no_answer');
    });
    $('note-form').addEventListener('submit', addNote);
    $('sms-form').addEventListener('submit', sendText);
    $('release').addEventListener('click', release);
    $('claim').addEventListener('click', claim);
    $('refresh-task').addEventListener('click', refreshTask);
    $('close-task').addEventListener('click', function () { hush(); closeTask(); });

    applyLanguage();

    state.token = load(KEY_TOKEN);
    if (state.token) {
      enterApp();
    } else {
      show($('signin'), true);
      $('token').focus();
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
