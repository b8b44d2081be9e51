"""No reply reveals history: on a shared phone, the second person to
text (or dial) learns nothing about the first.  Two complete SMS
conversations from one number, then a USSD session, against the real
daemon; every outbound body is collected at the fake aggregator and
checked, and the second conversation's replies must be exactly those a
first-time texter gets."""

import re
import sqlite3
import time
import unicodedata

from base import DaemonTestCase
from harness import AT_TOKEN

SHARED = "+84912345678"
FRESH = "+84987654321"
FRESH_USSD = "+84933444555"
Q = "?token=" + AT_TOKEN

# The first person: writes about themselves, then asks for a callback
# (Vietnamese, counsellor, safe to call, a verification word, evening,
# safe to text, send).
FIRST = ["Tôi tên Hoa, ở Hải Phòng, chồng tôi giữ giấy tờ",
         "1", "1", "1", "1", "4", "1", "1"]
# The second person (and a first-time texter): English, report a case,
# not safe to call, now, safe to text, send.
SECOND = ["hello", "2", "4", "2", "1", "1", "1"]

# Words that would point back at an earlier contact, in English and
# Vietnamese (compared folded and lower-cased, as whole words).
HISTORY_WORDS = ["already", "again", "earlier", "previous", "previously",
                 "before", "last time", "your request", "request #",
                 "task", "roi", "lan truoc", "truoc do", "truoc day",
                 "lan nua", "da co", "da nhan", "da gui", "yeu cau cua ban",
                 "lai lan"]


def fold(text):
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFD", text)
    return "".join(c for c in text
                   if unicodedata.category(c) != "Mn").lower()


class SharedPhone(DaemonTestCase):
    start_daemon = False

    def setUp(self):
        super().setUp()
        self.fa = self.fake_aggregator(secrets={
            "at_api_key": "at-api-key", "at_username": "hotline"})
        # Diacritics kept: the words are checked as written.
        self.add_fa_channel(self.fa, fold_vietnamese=False)
        cfg = self.daemon.config
        cfg["outbox"] = {"contact_windows": {"default": "00:00-24:00"}}
        self.daemon.start()
        self.seq = 0

    def text(self, body, phone):
        self.seq += 1
        self.at_sms(phone, body, "in-%d" % self.seq, channel="fa")
        # One at a time, as a person types: each reply before the next.
        deadline = time.monotonic() + 15
        while self.daemon.rows("SELECT 1 FROM inbound WHERE processed_at "
                               "IS NULL") or self.daemon.rows(
                "SELECT 1 FROM outbound WHERE status IN ('pending', "
                "'sending')"):
            self.assertLess(time.monotonic(), deadline, "never answered")
            time.sleep(0.02)

    def conversation(self, texts, phone):
        """Send texts one by one; return the bodies the aggregator got
        for phone during the conversation, in order."""
        before = len(self.sent(phone))
        for body in texts:
            self.text(body, phone)
        return self.sent(phone)[before:]

    def sent(self, phone):
        return [r.fields.get("message") for r in self.fa.requests()
                if r.fields.get("to") == phone]

    def age_messages(self):
        """Let time pass between the two people: the first one's texts
        fall out of the flood window (which would limit replies)."""
        con = sqlite3.connect(self.daemon.db_path, timeout=5)
        with con:
            con.execute("UPDATE inbound SET stored_at = strftime("
                        "'%Y-%m-%dT%H:%M:%SZ', 'now', '-3 minutes')")
            con.execute("UPDATE outbound SET created_at = strftime("
                        "'%Y-%m-%dT%H:%M:%SZ', 'now', '-3 minutes')")
        con.close()

    def ussd_walk(self, session, phone, inputs):
        pages = []
        for i in range(len(inputs) + 1):
            r = self.daemon.ussd("fa", session, phone, "*".join(inputs[:i]),
                                 Q)
            self.assertEqual(r.status, 200)
            pages.append(r.text)
        return pages

    def assert_reveals_nothing(self, bodies, earlier_tasks):
        earlier_words = [w for w in fold(FIRST[0]).replace(",", " ").split()
                         if len(w) > 3]
        for body in bodies:
            self.assertIsNotNone(body)
            f = fold(body)
            for word in HISTORY_WORDS:
                self.assertIsNone(
                    re.search(r"(?<![a-z])%s(?![a-z])" % re.escape(word), f),
                    "a reply says %r: %r" % (word, body))
            # A task number would come as "#N" or "N" beside a word for
            # a request; menu pages number their options "N. label".
            for task in earlier_tasks:
                self.assertIsNone(
                    re.search(r"#\s*%d(?!\d)|(?<![\d\n])%d(?![\d.])"
                              % (task, task), f),
                    "a reply names task %d: %r" % (task, body))
            # Nothing the first person wrote, nor their answers' codes.
            for word in earlier_words + ["counselling", "preferred_time",
                                         "safe_to_sms", "safe_to_call"]:
                self.assertNotIn(word, f, "a reply echoes %r" % word)

    def test_two_conversations_on_one_phone_and_then_a_call(self):
        first = self.conversation(FIRST, SHARED)
        tasks = [t["id"] for t in self.daemon.rows("SELECT id FROM tasks")]
        self.assertEqual(len(tasks), 1, "the first request was not filed")
        self.assertEqual(len(first), len(FIRST))
        self.age_messages()

        # The second person, while the first one's task is still open.
        second = self.conversation(SECOND, SHARED)
        self.age_messages()
        fresh = self.conversation(SECOND, FRESH)
        self.assertEqual(len(second), len(SECOND))
        self.assertEqual(second, fresh, "the second texter was answered "
                         "differently from a first-time texter")
        self.assert_reveals_nothing(first + second, tasks)
        # The second request updated the phone's one open task (the
        # other open task is the fresh number's).
        self.assertEqual(len(self.daemon.rows(
            "SELECT 1 FROM tasks WHERE status != 'closed'")), 2)

        # A USSD call from the same phone after the texts: the pages a
        # number that never made contact gets.
        path = ["2", "1", "1", "1", "1", "1", "1"]
        shared_pages = self.ussd_walk("u-shared", SHARED, path)
        fresh_pages = self.ussd_walk("u-fresh", FRESH_USSD, path)
        self.assertEqual(shared_pages, fresh_pages)
        self.assert_reveals_nothing(shared_pages, tasks)

        # And every text the aggregator received, to anyone.
        everything = [r.fields.get("message") for r in self.fa.requests()]
        self.assertEqual(len(everything), len(first) + len(second) +
                         len(fresh))
        self.assert_reveals_nothing(everything, tasks)

    def test_a_text_to_a_number_with_an_open_task_gets_the_first_page(self):
        self.ussd_walk("u1", SHARED, ["1", "1", "1", "1", "1", "1"])
        got = self.conversation(["is anyone there"], SHARED)
        want = self.conversation(["is anyone there"], FRESH)
        self.assertEqual(got, want)
        self.assertEqual(len(got), 1)
        self.assert_reveals_nothing(got, [1])
