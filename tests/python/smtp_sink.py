"""A real SMTP server on loopback (aiosmtpd, PyPI) that keeps every message it accepts.

Started by tests/it/email.rs. It prints `ready PORT` once it listens, writes each accepted
message to OUT_DIR/NNN.eml (the raw bytes as received, envelope recipients in a first line
`X-Envelope-To: …`) before it answers 250, and stops when its standard input closes.

    python smtp_sink.py OUT_DIR [--fail-first N]

--fail-first N answers the first N messages with a transient failure (451), as a relay that
is briefly unavailable would.
"""

import argparse
import os
import socket
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out_dir, fail_first):
        self.out_dir = out_dir
        self.fail_first = fail_first
        self.seen = 0
        self.kept = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.seen <= self.fail_first:
            return "451 4.3.0 Temporary failure, try again later"
        self.kept += 1
        path = os.path.join(self.out_dir, f"{self.kept:03}.eml")
        with open(path + ".part", "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".part", path)
        return "250 2.0.0 Kept"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    port = free_port()
    controller = Controller(Sink(args.out_dir, args.fail_first), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
