#!/usr/bin/env node
/*
 * The counsellors' console in a real browser: Debian's headless
 * Chromium driven by playwright-core.  run_console_test.py starts the
 * daemon, files the tasks and checks the database afterwards; this
 * script does what a counsellor would do on a 360 px phone screen.
 *
 * Input (environment; nothing here is printed that could carry a
 * number or the token):
 *   CONSOLE_URL     the daemon's base URL (http://127.0.0.1:PORT)
 *   CONSOLE_TOKEN   a counsellor's token
 *   TEST_PLAN       JSON: {task, opted_out_task, number, other_number,
 *                   answers: {vi: [...], en: [...]}, word, note,
 *                   outcome_note, sms, screenshot, database}
 *                   (word: the first task's verification word; the
 *                   second task has none)
 *                   (database: the daemon's SQLite file, which the test
 *                   changes behind the page's back, through python3)
 *   CHROMIUM        the browser (default /usr/bin/chromium)
 *
 * Exit status 0 only when every step passed; each step prints a TAP-like
 * "ok N - what" line, a failure "not ok N - what: why" and a screenshot
 * next to the requested one.
 */
'use strict';

const path = require('path');
const fs = require('fs');
const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const BASE = required('CONSOLE_URL').replace(/\/+$/, '');
const TOKEN = required('CONSOLE_TOKEN');
const PLAN = JSON.parse(required('TEST_PLAN'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT = 15000;

function required(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`${name} is not set`);
    process.exit(2);
  }
  return v;
}

/* What another counsellor, a supervisor or the clock does to a task
 * meanwhile, written straight into the daemon's database. */
const SQL_PY = [
  'import sqlite3, sys',
  'con = sqlite3.connect(sys.argv[1], timeout=10)',
  'with con:',
  '    con.execute(sys.argv[2], sys.argv[3:])',
  'con.close()',
].join('\n');

function sql(statement, ...args) {
  execFileSync('python3', ['-c', SQL_PY, PLAN.database, statement, ...args.map(String)],
    { stdio: ['ignore', 'ignore', 'inherit'], timeout: 15000 });
}

class Failure extends Error {}

function assert(cond, why) {
  if (!cond) throw new Failure(why);
}

/* Forms of a number that must not appear where it must not be shown
 * (the same forms the integration tests scan the log for). */
function numberForms(e164) {
  const digits = e164.replace(/^\+/, '');
  const forms = new Set([e164, digits]);
  if (digits.startsWith('84')) {
    forms.add('0' + digits.slice(2));
    forms.add(digits.slice(2));
  }
  return [...forms];
}

function containsNumber(text, e164) {
  const compact = text.replace(/[\s.\-()]/g, '');
  return numberForms(e164).some((f) => compact.includes(f));
}

let stepNo = 0;

async function main() {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox'],
  });
  const context = await browser.newContext({
    viewport: { width: 360, height: 780 },
    deviceScaleFactor: 1,
    isMobile: true,
    hasTouch: true,
    locale: 'vi-VN',
  });
  context.setDefaultTimeout(STEP_TIMEOUT);
  // Chromium asks for /favicon.ico by itself; the console has none,
  // and the 404 would read as a console error below.
  await context.route('**/favicon.ico', (route) => route.fulfill({ status: 204, body: '' }));
  const page = await context.newPage();

  const requests = [];       // every request the page made
  const problems = [];       // console errors, page errors, CSP reports
  page.on('request', (r) => requests.push({
    url: r.url(), method: r.method(), headers: r.allHeaders().catch(() => ({})),
  }));
  page.on('response', (r) => {
    const p = new URL(r.url()).pathname;
    const expected = p.startsWith('/v1/') && (r.status() === 401 || r.status() === 409);
    if (r.status() >= 400 && !expected) problems.push(`HTTP ${r.status()} for ${p}`);
  });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() !== 'error' && m.type() !== 'warning') return;
    const text = m.text();
    // The browser reports refused API calls the test provokes on
    // purpose (a wrong token, a refused text); anything else counts.
    if (/^Failed to load resource: the server responded with a status of (401|409)\b/.test(text)) return;
    if (m.type() === 'warning' && !/Content.Security.Policy|Refused/i.test(text)) return;
    problems.push(`console ${m.type()}: ${text}`);
  });

  const apiResponse = (pred) => page.waitForResponse(
    (r) => new URL(r.url()).pathname.startsWith('/v1/') && pred(r));

  async function step(what, fn) {
    stepNo += 1;
    try {
      await fn();
      console.log(`ok ${stepNo} - ${what}`);
    } catch (e) {
      console.log(`not ok ${stepNo} - ${what}: ${e instanceof Failure ? e.message : e.stack}`);
      try {
        fs.mkdirSync(path.dirname(PLAN.screenshot), { recursive: true });
        await page.screenshot({
          path: PLAN.screenshot.replace(/\.png$/, '-failure.png'), fullPage: true,
        });
      } catch (_) { /* the failure is reported already */ }
      throw e;
    }
  }

  const text = (sel) => page.locator(sel).innerText();
  const bodyText = () => page.locator('body').innerText();
  const noHorizontalScroll = async () => {
    const w = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
    }));
    assert(w.scroll <= w.inner, `page is ${w.scroll} px wide on a ${w.inner} px screen`);
  };
  const storage = () => page.evaluate(() => {
    const dump = (s) => {
      const out = {};
      for (let i = 0; i < s.length; i++) out[s.key(i)] = s.getItem(s.key(i));
      return out;
    };
    return { session: dump(window.sessionStorage), local: dump(window.localStorage) };
  });
  const message = async () => ({
    kind: await page.locator('#message').getAttribute('data-kind'),
    text: (await page.locator('#message').textContent()).trim(),
  });
  const taskRow = (id) => page.locator(`#queue li[data-task-id="${id}"]`);
  /* The safety script as shown: its steps, and the word line. */
  const script = () => page.evaluate(() => ({
    visible: !document.getElementById('call-script').hidden,
    word: document.getElementById('task-word').innerText.trim(),
    steps: [...document.querySelectorAll('#script-steps li')].map((li) => li.textContent),
  }));
  const detail = (id) => page.locator(`#task-detail[data-task-id="${id}"]`);

  try {
    await step('the console loads in Vietnamese with the sign-in form', async () => {
      const r = await page.goto(BASE + '/console/', { waitUntil: 'load' });
      assert(r && r.status() === 200, `GET /console/ answered ${r && r.status()}`);
      await page.locator('#token').waitFor({ state: 'visible' });
      assert(await page.evaluate(() => document.documentElement.lang) === 'vi', 'default language is not vi');
      assert((await text('#sign-in')) === 'Đăng nhập', 'sign-in button is not in Vietnamese');
      assert(await page.locator('#app').isHidden(), 'the queue shows before signing in');
      const field = await page.evaluate(() => {
        const input = document.getElementById('token');
        return { type: input.type, autocomplete: input.getAttribute('autocomplete'),
          method: input.form.getAttribute('method') };
      });
      assert(field.type === 'password', 'the token field is not a password field');
      assert(field.autocomplete === 'one-time-code', 'the token field invites a password manager');
      assert(field.method === 'post', 'the sign-in form would put the token in a URL');
      await noHorizontalScroll();
    });

    await step('a wrong token is refused with the API message', async () => {
      await page.fill('#token', 'hl_' + 'A'.repeat(43));
      const [res] = await Promise.all([
        apiResponse((r) => r.status() === 401),
        page.click('#sign-in'),
      ]);
      const body = await res.json();
      assert(body && body.error && body.error.message, '401 without an error message');
      await page.locator('#message[data-kind="error"]').waitFor();
      assert((await message()).text === body.error.message,
        'the page does not show the API error message');
      await page.locator('#token').waitFor({ state: 'visible' });
      assert(!(await storage()).session['hotline.token'], 'a refused token stayed in sessionStorage');
    });

    await step('signing in shows the queue without any number', async () => {
      await page.fill('#token', TOKEN);
      await page.click('#sign-in');
      await taskRow(PLAN.task).waitFor();
      await taskRow(PLAN.opted_out_task).waitFor();
      const row = await taskRow(PLAN.task).innerText();
      assert(row.includes('#' + PLAN.task), 'row does not show the task id');
      assert(row.includes(PLAN.number.slice(-2)), 'row does not show the number hint');
      assert(row.includes('Gặp tư vấn viên'), 'row does not show the topic in Vietnamese');
      assert(row.includes('Đang chờ'), 'row does not show the status');
      const all = await bodyText();
      assert(!containsNumber(all, PLAN.number) && !containsNumber(all, PLAN.other_number),
        'a caller number is on the page before any task is taken');
      assert(await page.locator('#token').inputValue() === '', 'the token stays in the input');
      await noHorizontalScroll();
    });

    await step('the token is in sessionStorage only', async () => {
      const s = await storage();
      assert(s.session['hotline.token'] === TOKEN, 'the token is not in sessionStorage');
      assert(Object.keys(s.local).length === 0, 'the page wrote to localStorage');
      assert(!JSON.stringify(s.local).includes(TOKEN), 'the token is in localStorage');
      assert(!page.url().includes(TOKEN), 'the token is in the address');
    });

    await step('the queue is polled', async () => {
      const lists = () => requests.filter((r) => r.method === 'GET' &&
        new URL(r.url).pathname === '/v1/callbacks').length;
      const before = lists();
      const deadline = Date.now() + 8000;
      while (lists() === before) {
        assert(Date.now() < deadline, 'no new GET /v1/callbacks within 8 s');
        await page.waitForTimeout(200);
      }
    });

    await step('"take next" claims the task and shows its number and answers', async () => {
      await page.click('#take-next');
      await detail(PLAN.task).waitFor({ state: 'visible' });
      await page.locator('#tel-link').waitFor();
      assert(await page.locator('#tel-link').getAttribute('href') === 'tel:' + PLAN.number,
        'the number is not a tel: link to the caller');
      await page.waitForFunction((want) => {
        const t = document.getElementById('answers').innerText;
        return want.every((w) => t.includes(w));
      }, PLAN.answers.vi);
      assert((await text('#held-actions')).includes('Lưu kết quả'), 'no outcome form');
      assert(await page.locator('#complete').isVisible(), 'the complete button is hidden');
      await noHorizontalScroll();
    });

    await step('the holder sees the verification word and the safety script beside the number', async () => {
      await page.locator('#word-value').waitFor();
      assert((await text('#word-value')) === PLAN.word, 'the word shown is not the caller\'s');
      const s = await script();
      assert(s.visible, 'the safety script is hidden');
      assert(s.steps.length === 4, `the script has ${s.steps.length} steps, not 4`);
      assert(s.steps[0].includes('nói chuyện có tiện không'), 'no "good time to talk" step');
      assert(s.steps[1].includes(`“${PLAN.word}”`), 'no step saying the word');
      assert(s.steps[2].includes('người khác nghe máy') && s.steps[2].includes('nhầm số'),
        'no step for someone else answering');
      assert(s.steps[3].includes('Không an toàn') && s.steps[3].includes('Không trả lời'),
        'no step for recording the outcome');
      await noHorizontalScroll();
    });

    await step('"take next" while holding a task is refused in the page\'s words', async () => {
      await page.locator(`#queue li[data-task-id="${PLAN.task}"][data-status="claimed"]`).waitFor();
      const [res] = await Promise.all([
        apiResponse((r) => r.url().endsWith('/callbacks/next')),
        page.click('#take-next'),
      ]);
      assert(res.status() === 409, `next while holding answered ${res.status()}`);
      await page.locator('#message[data-kind="error"]').waitFor();
      assert((await message()).text === `Bạn đang giữ yêu cầu #${PLAN.task}: hãy lưu kết quả ` +
        'hoặc trả lại hàng đợi trước khi nhận yêu cầu khác.', 'the refusal does not name the task held');
      assert(await detail(PLAN.task).isVisible(), 'the task held left the screen');
      assert(await page.locator('#tel-link').count() === 1, 'the number of the task held went away');
    });

    await step('when the lease runs out the number leaves the page; claiming again brings it back', async () => {
      // A lease a few seconds ahead: the page learns it from the next
      // poll and hides the number on its own timer, between polls.
      sql("UPDATE tasks SET lease_expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+8 seconds') " +
        'WHERE id = ?', PLAN.task);
      await page.locator('#tel-link').waitFor({ state: 'detached', timeout: 25000 });
      assert(!containsNumber(await bodyText(), PLAN.number), 'the number stays after the lease ended');
      assert(!(await bodyText()).includes(PLAN.word), 'the word stays after the lease ended');
      assert(!(await script()).visible, 'the safety script stays after the lease ended');
      assert((await message()).text === `Đã hết thời gian giữ yêu cầu #${PLAN.task}; số điện thoại ` +
        'đã được ẩn. Nhận lại yêu cầu nếu cần gọi.', 'no notice that the lease ended');
      assert(await page.locator('#held-actions').isHidden(), 'the outcome form stays after the lease ended');
      assert(await page.locator('#claim').isVisible(), 'no claim button after the lease ended');
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/claim')),
        page.click('#claim'),
      ]);
      assert(res.status() === 200, `claiming again answered ${res.status()}`);
      await page.locator('#tel-link').waitFor();
      assert(await page.locator('#tel-link').getAttribute('href') === 'tel:' + PLAN.number,
        'the number is not back after claiming again');
      assert(await page.locator('#complete').isVisible(), 'the outcome form is not back');
      await page.locator('#word-value').waitFor();
      assert((await text('#word-value')) === PLAN.word, 'the word is not back after claiming again');
    });

    await step('switching to English relabels the page and the answers', async () => {
      await page.click('#lang-en');
      await page.waitForFunction(() => document.documentElement.lang === 'en');
      assert((await text('#take-next')) === 'Take next', 'take-next is not in English');
      await page.waitForFunction((want) => {
        const t = document.getElementById('answers').innerText;
        return want.every((w) => t.includes(w));
      }, PLAN.answers.en);
      assert((await page.locator('#lang-en').getAttribute('aria-pressed')) === 'true', 'switch state');
      await page.waitForFunction((w) => [...document.querySelectorAll('#script-steps li')]
        .some((li) => li.textContent === `Say the word “${w}” so they know the call is really from us.`), PLAN.word);
      assert((await script()).steps[2].includes('wrong number'), 'the script is not in English');
      await page.click('#lang-vi');
      await page.waitForFunction(() => document.documentElement.lang === 'vi');
      await page.waitForFunction((want) => {
        const t = document.getElementById('answers').innerText;
        return want.every((w) => t.includes(w));
      }, PLAN.answers.vi);
      const s = await storage();
      assert(Object.keys(s.local).length === 0, 'the language went to localStorage');
    });

    await step('a note is added', async () => {
      await page.fill('#new-note', PLAN.note);
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/notes')),
        page.click('#add-note'),
      ]);
      assert(res.status() === 201, `notes answered ${res.status()}`);
      await page.waitForFunction((n) => document.getElementById('notes').innerText.includes(n), PLAN.note);
      assert((await message()).kind === 'ok', 'no confirmation after the note');
    });

    await step('the caller is texted', async () => {
      await page.fill('#sms-text', PLAN.sms);
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/messages')),
        page.click('#send-sms'),
      ]);
      assert(res.status() === 202, `messages answered ${res.status()}`);
      await page.waitForFunction((s) => document.getElementById('messages').innerText.includes(s), PLAN.sms);
      const last = await page.locator('#messages li').last().getAttribute('data-direction');
      assert(last === 'out', 'our text is not the newest message');
    });

    await step('the outcome "reached" is recorded with a note', async () => {
      await page.selectOption('#outcome', 'reached');
      assert(await page.locator('#retry-at').isHidden(), 'retry time offered for reached');
      await page.fill('#note', PLAN.outcome_note);
      fs.mkdirSync(path.dirname(PLAN.screenshot), { recursive: true });
      await page.screenshot({ path: PLAN.screenshot, fullPage: true });
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/complete')),
        page.click('#complete'),
      ]);
      assert(res.status() === 200, `complete answered ${res.status()}`);
      await page.locator('#task-detail').waitFor({ state: 'hidden' });
      assert((await message()).kind === 'ok', 'no confirmation after completing');
      assert((await message()).text.includes('Đã nói chuyện được'), 'the confirmation does not name the outcome');
      await taskRow(PLAN.task).waitFor({ state: 'detached' });
      assert(!containsNumber(await bodyText(), PLAN.number), 'the number stays on the page after completing');
      assert(!(await bodyText()).includes(PLAN.word), 'the word stays on the page after completing');
    });

    await step('texting a caller who opted out shows the API refusal', async () => {
      await page.click('#take-next');
      await detail(PLAN.opted_out_task).waitFor({ state: 'visible' });
      // No word chosen: the script still shows, without the word step.
      await page.locator('#call-script').waitFor({ state: 'visible' });
      const s = await script();
      assert(s.word === 'Người gọi không chọn từ xác nhận.', 'no "no word" line: ' + s.word);
      assert(s.steps.length === 3, `the script without a word has ${s.steps.length} steps`);
      assert(!s.steps.some((x) => x.startsWith('Nói từ')), 'a word step without a word');
      await page.fill('#sms-text', PLAN.sms);
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/messages')),
        page.click('#send-sms'),
      ]);
      assert(res.status() === 409, `texting an opted-out caller answered ${res.status()}`);
      const body = await res.json();
      assert(body.error && body.error.message, '409 without an error message');
      await page.locator('#message[data-kind="error"]').waitFor();
      assert((await message()).text === body.error.message,
        'the page does not show the API error message');
      assert(!(await text('#messages')).includes(PLAN.sms), 'a refused text is shown as sent');
    });

    await step('release gives the task back; opening it hides the number until claimed', async () => {
      const [res] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/release')),
        page.click('#release'),
      ]);
      assert(res.status() === 200, `release answered ${res.status()}`);
      await page.locator('#task-detail').waitFor({ state: 'hidden' });
      await page.locator(`#queue li[data-task-id="${PLAN.opted_out_task}"][data-status="pending"]`).waitFor();
      assert(!containsNumber(await bodyText(), PLAN.other_number), 'the number stays after release');

      await page.click(`#queue button[data-task-id="${PLAN.opted_out_task}"]`);
      await detail(PLAN.opted_out_task).waitFor({ state: 'visible' });
      assert(await page.locator('#tel-link').count() === 0, 'an unclaimed task shows a tel: link');
      assert(!(await script()).visible, 'an unclaimed task shows the safety script');
      assert(!containsNumber(await bodyText(), PLAN.other_number), 'an unclaimed task shows the number');
      assert(await page.locator('#claim').isVisible(), 'no claim button on a pending task');
      assert(await page.locator('#held-actions').isHidden(), 'outcome form on a task not held');

      await page.click('#claim');
      await page.locator('#tel-link').waitFor();
      assert(await page.locator('#tel-link').getAttribute('href') === 'tel:' + PLAN.other_number,
        'the claimed task does not link its number');
    });

    await step('a task given back behind the page\'s back loses its number at the next poll', async () => {
      // As a supervisor's release or a lapsed lease the daemon swept.
      sql("UPDATE tasks SET status = 'pending', claimed_by = NULL, lease_expires_at = NULL " +
        'WHERE id = ?', PLAN.opted_out_task);
      await page.locator('#tel-link').waitFor({ state: 'detached', timeout: 15000 });
      assert(!containsNumber(await bodyText(), PLAN.other_number), 'the number stays after the task moved');
      assert((await message()).text.startsWith(`Yêu cầu #${PLAN.opted_out_task} vừa được trả lại`),
        'no notice that the task moved');
      assert(await page.locator('#held-actions').isHidden(), 'the outcome form stays after the task moved');
      await page.locator(`#task-detail[data-task-id="${PLAN.opted_out_task}"][data-status="pending"]`).waitFor();
      assert(await page.locator('#claim').isVisible(), 'no claim button after the task moved');

      await page.click('#claim');
      await page.locator('#tel-link').waitFor();
      await page.selectOption('#outcome', 'wrong_number');
      const [done] = await Promise.all([
        apiResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/complete')),
        page.click('#complete'),
      ]);
      assert(done.status() === 200, `complete answered ${done.status()}`);
      await page.locator('#task-detail').waitFor({ state: 'hidden' });
    });

    await step('"take next" on an empty queue says so', async () => {
      const [res] = await Promise.all([
        apiResponse((r) => r.url().endsWith('/callbacks/next')),
        page.click('#take-next'),
      ]);
      assert(res.status() === 204, `next answered ${res.status()}`);
      await page.waitForFunction(() => document.getElementById('message').textContent.includes('Hàng đợi trống'));
      await page.locator('#queue-empty').waitFor({ state: 'visible' });
    });

    await step('sign-out clears the token and the page', async () => {
      await page.click('#sign-out');
      await page.locator('#token').waitFor({ state: 'visible' });
      const s = await storage();
      assert(!s.session['hotline.token'], 'the token stays in sessionStorage after sign-out');
      assert(Object.keys(s.local).length === 0, 'the page wrote to localStorage');
      assert(await page.locator('#queue li').count() === 0, 'the queue stays on the page');
      await page.reload({ waitUntil: 'load' });
      await page.locator('#token').waitFor({ state: 'visible' });
      assert(await page.locator('#app').isHidden(), 'signed in again after a reload');
    });

    await step('no request carried the token in its URL; all went to the daemon', async () => {
      const encoded = encodeURIComponent(TOKEN);
      const origin = new URL(BASE).origin;
      for (const r of requests) {
        assert(!r.url.includes(TOKEN) && !r.url.includes(encoded), 'a request URL carries the token');
        assert(new URL(r.url).origin === origin, 'a request left the daemon: ' + new URL(r.url).origin);
      }
      const api = requests.filter((r) => new URL(r.url).pathname.startsWith('/v1/'));
      assert(api.length > 0, 'no API request was seen');
      for (const r of api) {
        const h = await r.headers;
        assert(/^Bearer hl_/.test(h.authorization || ''), 'an API request went without the bearer token');
      }
    });

    await step('no script error, console error or CSP violation', async () => {
      assert(problems.length === 0, problems.join('\n'));
    });
  } finally {
    await browser.close();
  }
}

main().then(() => {
  console.log(`1..${stepNo}`);
}, (e) => {
  if (!(e instanceof Failure) && stepNo === 0) console.error(e);
  process.exitCode = 1;
});
