#!/usr/bin/env python3
"""The event catalogue (docs/events.md) against the code.

Every event name the daemon and hotlinectl can write is read out of
daemon/*.c and compared with the names the catalogue lists; the test
fails, naming each one, when the code writes an event the catalogue
does not list, or the catalogue lists one the code no longer writes.
It needs no daemon, so it also runs alone:

    python3 tests/integration/test_events.py          # check
    python3 tests/integration/test_events.py --list   # name, level, where

How names are found.  An event is the 2nd argument of log_event().
Where that argument holds string literals (one, or two chosen by a
ternary), those are the names.  Where it is a parameter of the function
around the call (a helper such as webhook_refuse(req, "sms.refused", ...),
http.c's throttle_log or outbox.c's log_row and record), the callers of
that function are read the same way, as deep as the chain goes; a local
variable is followed to the literals assigned to it in that function.
Anything else (a name built at run time, a function pointer) is not
guessed: the test fails and says where, so that a new pattern is taught
here rather than silently missed.
"""

import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SOURCES = os.path.join(ROOT, "daemon")
CATALOGUE = os.path.join(ROOT, "docs", "events.md")

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
LEVEL_RE = re.compile(r"\bLOG_(DEBUG|INFO|WARN|ERROR)\b")
IDENT_RE = re.compile(r"^[A-Za-z_]\w*$")
STRING_RE = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
# A definition in style(9): the name at the start of a line.
DEF_RE = re.compile(r"^([A-Za-z_]\w*)\(", re.M)
# Words after which NAME( is a call, not a declaration.
CALL_KEYWORDS = {"return", "else", "do", "case", "sizeof"}


class ExtractError(Exception):
    pass


def strip_comments(text):
    """Comments blanked (newlines kept, so offsets and line numbers hold);
    string and character literals left as they are."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def split_args(text, open_paren):
    """The arguments of the call whose '(' is at open_paren, as source
    text, and the offset just past its ')'."""
    args, depth, start, i = [], 0, open_paren + 1, open_paren
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    raise ExtractError("unbalanced parentheses")


class Source:
    def __init__(self, path):
        self.path = path
        self.name = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            self.text = strip_comments(f.read())
        # name -> (offset of the definition, parameter names, body span)
        self.functions = {}
        for m in DEF_RE.finditer(self.text):
            try:
                args, end = split_args(self.text, m.end() - 1)
            except ExtractError:
                continue
            rest = self.text[end:]
            brace = re.match(r"\s*\{", rest)
            if brace is None:
                continue        # a prototype or a macro use
            body_start = end + brace.end() - 1
            body_end = self._block_end(body_start)
            params = [param_name(a) for a in args]
            self.functions[m.group(1)] = (m.start(), params,
                                          (body_start, body_end))

    def _block_end(self, brace):
        depth, i, n = 0, brace, len(self.text)
        while i < n:
            c = self.text[i]
            if c in "\"'":
                j = i + 1
                while j < n and self.text[j] != c:
                    j += 2 if self.text[j] == "\\" else 1
                i = j + 1
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return n

    def line(self, offset):
        return self.text.count("\n", 0, offset) + 1

    def enclosing(self, offset):
        for fname, (_, params, (lo, hi)) in self.functions.items():
            if lo <= offset <= hi:
                return fname, params, (lo, hi)
        return None, [], (0, 0)

    def calls(self, fname):
        """Each call of fname: (offset, arguments)."""
        for m in re.finditer(r"\b%s\s*\(" % re.escape(fname), self.text):
            before = self.text[:m.start()].rstrip()
            word = re.search(r"(\w+)$", before)
            if before.endswith("*") or (word and
                                        word.group(1) not in CALL_KEYWORDS):
                continue        # a definition or declaration, not a call
            try:
                args, _ = split_args(self.text, m.end() - 1)
            except ExtractError:
                raise ExtractError("%s:%d: cannot read the arguments of %s()"
                                   % (self.name, self.line(m.start()), fname))
            yield m.start(), args


def param_name(decl):
    """'const char *event' -> 'event'; '...' and 'void' -> None."""
    m = re.search(r"(\w+)\s*(\[[^\]]*\])?$", decl)
    if decl.strip() in ("...", "void") or m is None:
        return None
    return m.group(1)


def literals(expr):
    """The strings an argument can be: adjacent literals joined, one
    string per alternative of a ternary."""
    names, run, last = [], None, None
    for m in STRING_RE.finditer(expr):
        if run is not None and expr[last:m.start()].strip() == "":
            run += m.group(1)
        else:
            if run is not None:
                names.append(run)
            run = m.group(1)
        last = m.end()
    if run is not None:
        names.append(run)
    return names


class Extractor:
    def __init__(self, directory=SOURCES):
        self.sources = [Source(os.path.join(directory, f))
                        for f in sorted(os.listdir(directory))
                        if f.endswith(".c")]
        # name -> set of (level, "file:line")
        self.events = {}
        self.problems = []

    def run(self):
        for src in self.sources:
            for offset, args in src.calls("log_event"):
                self._resolve(src, offset, args, 1, 0, set(), ())
        return self.events

    def _callers(self, fname):
        for src in self.sources:
            for offset, args in src.calls(fname):
                yield src, offset, args

    def _resolve(self, src, offset, args, index, level_index, seen, levels):
        where = "%s:%d" % (src.name, src.line(offset))
        if index >= len(args):
            self.problems.append("%s: the call has no argument %d"
                                 % (where, index + 1))
            return
        expr = args[index]
        if level_index is not None and level_index < len(args):
            found = LEVEL_RE.findall(args[level_index])
            if found:
                levels = tuple(found)
        names = literals(expr)
        fname, params, (lo, hi) = src.enclosing(offset)
        if not names and IDENT_RE.match(expr) and expr not in params:
            # A local variable: the literals assigned to it in this
            # function (const char *ev = urgent ? "a" : "b";).
            body = src.text[lo:hi]
            for m in re.finditer(r"\b%s\s*=(?!=)([^;]*);" % re.escape(expr),
                                 body):
                names.extend(literals(m.group(1)))
        if names:
            for name in names:
                if not NAME_RE.match(name):
                    self.problems.append("%s: %r is not an event name"
                                         % (where, name))
                    continue
                self.events.setdefault(name, set()).add(
                    ("/".join(l.lower() for l in levels) or "?", where))
            return
        if not IDENT_RE.match(expr) or expr not in params:
            self.problems.append(
                "%s: cannot tell which event this writes (argument %r); "
                "pass a string literal, or teach "
                "tests/integration/test_events.py the pattern"
                % (where, expr))
            return
        # A parameter: the helper's callers say which names.
        key = (fname, params.index(expr))
        if key in seen:
            return
        level_param = None
        if level_index is not None and level_index < len(args):
            lv = args[level_index]
            if IDENT_RE.match(lv) and lv in params:
                level_param = params.index(lv)
        for csrc, coff, cargs in self._callers(fname):
            self._resolve(csrc, coff, cargs, params.index(expr), level_param,
                          seen | {key}, levels)


def extract(directory=SOURCES):
    """{event name: {(level, "file:line"), ...}} and a list of problems."""
    ex = Extractor(directory)
    events = ex.run()
    return events, ex.problems


def catalogue_names(path=CATALOGUE):
    """The names the catalogue lists: every `name` in the first cell of
    a row of a table whose first column is headed `event` (one or more
    names per row).  Other tables (the common fields) are not read."""
    names = set()
    in_events = False
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|([^|]*)\|", line)
            if m is None:
                in_events = False
                continue
            cell = m.group(1).strip()
            if re.match(r"^:?-+:?$", cell):
                continue        # the separator under a header
            if not in_events:
                # The first row of a table is its header.
                in_events = cell.lower() == "event"
                header = True
            else:
                header = False
            if in_events and not header:
                for name in re.findall(r"`([^`]+)`", cell):
                    if NAME_RE.match(name):
                        names.add(name)
    return names


def differences(events, listed):
    missing = sorted(set(events) - listed)
    stale = sorted(listed - set(events))
    lines = []
    if missing:
        lines.append("written by the code but not in docs/events.md "
                     "(add a row for each):")
        for name in missing:
            for level, where in sorted(events[name]):
                lines.append("  %s  (%s, %s)" % (name, level, where))
    if stale:
        lines.append("in docs/events.md but no longer written by the code "
                     "(remove, or fix the name): " + ", ".join(stale))
    return missing, stale, "\n".join(lines)


class EventCatalogueTest(unittest.TestCase):
    def test_extractor_reads_every_log_event_call(self):
        events, problems = extract()
        self.assertEqual(problems, [], "\n" + "\n".join(problems))
        # The patterns this file knows, each seen at least once, so that
        # a broken extractor cannot pass by finding nothing.
        for name in ("daemon.listening",      # a plain literal
                     "task.created", "task.updated",   # a ternary
                     "sms.refused",           # webhook_refuse(req, "...")
                     "http.connection_refused",  # throttle_log
                     "outbox.sent"):          # record() -> log_row()
            self.assertIn(name, events)

    def test_extractor_follows_helpers_and_flags_the_unknown(self):
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "x.c"), "w") as f:
                f.write('static void\nhelper(int a, const char *ev)\n{\n'
                        '\tlog_event(LOG_WARN, ev, NULL);\n}\n\n'
                        'static void\nouter(const char *e2)\n{\n'
                        '\thelper(1, e2);\n}\n\n'
                        'void\nf(int x)\n{\n'
                        '\tconst char *v = x ? "a.one" : "a.two";\n\n'
                        '\t/* log_event(LOG_INFO, "not.this", NULL); */\n'
                        '\thelper(2, "b.three");\n'
                        '\touter("c.four");\n'
                        '\tlog_event(LOG_INFO, v, NULL);\n'
                        '\tlog_event(LOG_INFO, names[x], NULL);\n}\n')
            events, problems = extract(d)
        self.assertEqual(sorted(events),
                         ["a.one", "a.two", "b.three", "c.four"])
        self.assertEqual({lv for lv, _ in events["c.four"]}, {"warn"})
        self.assertEqual(len(problems), 1)
        self.assertIn("x.c:22", problems[0])
        self.assertIn("names[x]", problems[0])

    def test_differences_name_each_missing_and_stale_event(self):
        missing, stale, msg = differences(
            {"a.b": {("info", "daemon/x.c:3")}, "c.d": {("warn", "y.c:1")}},
            {"c.d", "e.f"})
        self.assertEqual((missing, stale), (["a.b"], ["e.f"]))
        self.assertIn("a.b  (info, daemon/x.c:3)", msg)
        self.assertIn("e.f", msg)

    def test_catalogue_lists_exactly_the_events_the_code_writes(self):
        events, problems = extract()
        self.assertEqual(problems, [], "\n" + "\n".join(problems))
        missing, stale, msg = differences(events, catalogue_names())
        self.assertFalse(missing or stale, "\n" + msg)


def main():
    events, problems = extract()
    if "--list" in sys.argv[1:]:
        for name in sorted(events):
            levels = sorted({lv for lv, _ in events[name]})
            wheres = sorted({w for _, w in events[name]})
            print("%-28s %-12s %s" % (name, ",".join(levels),
                                      " ".join(wheres)))
        return 0
    for p in problems:
        print("test_events: " + p, file=sys.stderr)
    missing, stale, msg = differences(events, catalogue_names())
    if msg:
        print(msg, file=sys.stderr)
    if problems or missing or stale:
        return 1
    print("test_events: %d events, all in docs/events.md" % len(events))
    return 0


if __name__ == "__main__":
    sys.exit(main())
