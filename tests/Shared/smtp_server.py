"""A real SMTP server for the tests (Debian's python3-aiosmtpd), scriptable while it runs.

    python3 smtp_server.py FOLDER RULES.json [CERT.pem KEY.pem]

Binds 127.0.0.1 on a free port and prints the port as stdout's first line. Each accepted message is
saved as FOLDER/NNNNNN.eml (the bytes as received, after two added lines X-Envelope-From and
X-Envelope-To) with FOLDER/NNNNNN.json beside it: {"mail_from", "rcpt_tos", "session", "peer"}. The
With a certificate and key, the server offers STARTTLS (and "tls" in the JSON says whether the
message came over it). The JSON is written first and the .eml renamed into place last, so a reader that sees an .eml finds both
whole. Every connection appends one line "N HOST:PORT" to FOLDER/sessions.log, so a test can count
connections and tell which one carried each message.

RULES.json is optional and re-read whenever it changes (checked on every connection and command).
All keys are optional; addresses compare case-insensitively:
  reject:              ["a@x.org"]        550 5.1.1 at RCPT: the mailbox doesn't exist (a hard bounce)
  replies:             {"b@x.org": "554 5.7.1 Policy"}   this reply at RCPT, any code
  defer_always:        ["c@x.org"]        451 4.3.0 at RCPT, every time (alias: defer)
  defer_first:         ["d@x.org"]        451 4.7.1 on the first attempt only, so a retry succeeds
  defer_first_percent: 10                 the same for ~10% of all recipients (crc32 of the address)
  drop_after:          N                  after N messages in one connection, drop it at the next DATA
                                          without a reply (that message is not saved)
  delay_ms:            M                  wait M ms before answering DATA
  data_reply:          "554 5.6.0 Bad"    answer DATA with this instead of accepting
  store_then_drop:     ["e@x.org"]        save the message, then drop the connection before the 250
                                          (a lost reply: the reader has it, the sender can't know)
  store_then_drop_every: N                the same for every Nth message saved
  freeze_at:           N                  save the Nth message, then freeze (SIGSTOP itself) before its 250,
                                          so a test that kills the sender there finds it mid-send however
                                          late the test itself gets to run; SIGCONT thaws it

The server also offers AUTH (PLAIN, LOGIN), with or without TLS, and accepts any user name and password:
each login appends "tls=True|False user=NAME" to FOLDER/auth.log, so a test can see whether a client
would have sent its password in clear text.

SIGSTOP freezes the server (connections are accepted by the kernel, nothing answers); SIGCONT thaws it.

If SMTP_PARENT_PID is set, the server exits when that process is gone, so a crashed test run leaves
no server behind.
"""
import asyncio
import json
import os
import signal
import ssl
import sys
import zlib

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Rules:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.values = {}

    def get(self):
        try:
            st = os.stat(self.path)
            # The inode too: a file replaced twice within one clock tick keeps its mtime, not its inode.
            mtime = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            self.values, self.mtime = {}, None
            return self.values
        if mtime != self.mtime:
            try:
                with open(self.path, encoding="utf-8") as f:
                    self.values = json.load(f) or {}
                self.mtime = mtime
            except (OSError, ValueError):
                pass  # half-written by the test right now: keep the previous rules, re-read next time
        return self.values


def listed(rules, key, address):
    return address in [a.lower() for a in rules.get(key, [])]


class Handler:
    def __init__(self, folder, rules):
        self.folder = folder
        self.rules = rules
        self.count = 0
        self.attempts = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        rules = self.rules.get()
        a = address.lower()
        replies = {k.lower(): v for k, v in rules.get("replies", {}).items()}
        if a in replies:
            return replies[a]
        if listed(rules, "reject", a):
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table" % address
        if listed(rules, "defer_always", a) or listed(rules, "defer", a):
            return "451 4.3.0 <%s>: Temporary lookup failure, try again later" % address
        pct = rules.get("defer_first_percent", 0)
        if listed(rules, "defer_first", a) or (pct and zlib.crc32(a.encode()) % 100 < pct):
            n = self.attempts.get(a, 0)
            self.attempts[a] = n + 1
            if n == 0:
                return "451 4.7.1 <%s>: Recipient address rejected: Greylisted, try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        rules = self.rules.get()
        session.messages = getattr(session, "messages", 0) + 1
        drop_after = rules.get("drop_after")
        if drop_after and session.messages > drop_after:
            # abort(): no FIN-after-reply race; whatever is pushed after this is discarded.
            server.transport.abort()
            return "421 4.4.2 dropped by the test rules"
        delay = rules.get("delay_ms")
        if delay:
            await asyncio.sleep(delay / 1000.0)
        if rules.get("data_reply"):
            return rules["data_reply"]
        self.count += 1
        name = "%06d" % self.count
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "session": getattr(session, "number", 0),
            "peer": "%s:%s" % tuple(session.peer[:2]) if session.peer else "",
            "tls": getattr(session, "ssl", None) is not None,
        }
        with open(os.path.join(self.folder, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(meta, f)
        tmp = os.path.join(self.folder, "." + name + ".tmp")
        content = envelope.original_content if envelope.original_content is not None else envelope.content
        with open(tmp, "wb") as f:
            f.write(("X-Envelope-From: %s\r\n" % envelope.mail_from).encode())
            f.write(("X-Envelope-To: %s\r\n" % ", ".join(envelope.rcpt_tos)).encode())
            f.write(content)
        os.rename(tmp, os.path.join(self.folder, name + ".eml"))
        if rules.get("freeze_at") == self.count:
            # Stops the whole server at once, here, in its own thread: a test polling for the count could stall
            # between seeing it and freezing the server, and meanwhile the rest of the send would go out.
            os.kill(os.getpid(), signal.SIGSTOP)
        every = rules.get("store_then_drop_every")
        if any(listed(rules, "store_then_drop", a.lower()) for a in envelope.rcpt_tos) or (every and self.count % every == 0):
            server.transport.abort()
            return "421 4.4.2 stored, then dropped by the test rules"
        return "250 2.0.0 Ok: queued as %s" % name


class CountingSMTP(SMTP):
    """Numbers each connection and logs it, so tests can see pooling and reconnects."""
    sessions = 0

    def __init__(self, handler, folder, rules, **kwargs):
        super().__init__(handler, **kwargs)
        self.folder = folder
        self.rules = rules

    def connection_made(self, transport):
        # Called again after STARTTLS with a fresh session object: that is the same connection.
        is_new = self.transport is None
        super().connection_made(transport)
        if is_new:
            CountingSMTP.sessions += 1
            self.number = CountingSMTP.sessions
            peer = transport.get_extra_info("peername") or ("?", 0)
            with open(os.path.join(self.folder, "sessions.log"), "a") as f:
                f.write("%d %s:%s\n" % (self.number, peer[0], peer[1]))
            self.rules.get()
        self.session.number = self.number


class RecordingAuthenticator:
    """Accepts every login and records it, with whether the password came over TLS."""

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, server, session, envelope, mechanism, auth_data):
        user = auth_data.login.decode("utf-8", "replace") if isinstance(auth_data, LoginPassword) else "?"
        with open(os.path.join(self.folder, "auth.log"), "a") as f:
            f.write("tls=%s user=%s\n" % (getattr(session, "ssl", None) is not None, user))
        return AuthResult(success=True)


async def watch_parent(pid):
    while True:
        await asyncio.sleep(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


async def main():
    folder, rules_path = sys.argv[1], sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    rules = Rules(rules_path)
    handler = Handler(folder, rules)
    tls = None
    if len(sys.argv) > 4:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(sys.argv[3], sys.argv[4])
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: CountingSMTP(handler, folder, rules, hostname="smtp.test", decode_data=False,
                             data_size_limit=50 * 1024 * 1024, tls_context=tls,
                             authenticator=RecordingAuthenticator(folder), auth_require_tls=False),
        host="127.0.0.1", port=0)
    print(server.sockets[0].getsockname()[1], flush=True)
    parent = os.environ.get("SMTP_PARENT_PID")
    if parent:
        asyncio.ensure_future(watch_parent(int(parent)))
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
