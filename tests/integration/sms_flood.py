#!/usr/bin/env python3
"""Send COUNT inbound SMS over CONNS keep-alive connections as fast as
possible; append each id that got a 2xx to ACKED (flushed per line).
Stops by itself when the daemon goes away.  Loopback only.

usage: sms_flood.py PORT ACKED COUNT CONNS
"""

import http.client
import sys
import threading
import urllib.parse


def worker(port, acked, lock, ids):
    conn = None
    for msg_id in ids:
        body = urllib.parse.urlencode({
            "from": "+84911222333", "to": "1567", "text": "flood " + msg_id,
            "id": msg_id}).encode()
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port,
                                                  timeout=10)
            conn.request("POST", "/v1/sms/console", body, {
                "Content-Type": "application/x-www-form-urlencoded"})
            r = conn.getresponse()
            r.read()
        except OSError:
            return          # the daemon was killed: stop
        except http.client.HTTPException:
            return
        if 200 <= r.status < 300:
            with lock:
                acked.write(msg_id + "\n")
                acked.flush()


def main():
    port, path, count, conns = (int(sys.argv[1]), sys.argv[2],
                                int(sys.argv[3]), int(sys.argv[4]))
    lock = threading.Lock()
    with open(path, "a") as acked:
        ids = ["flood-%06d" % i for i in range(count)]
        threads = [threading.Thread(target=worker, args=(
            port, acked, lock, ids[n::conns])) for n in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
