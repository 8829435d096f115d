"""A real SMTP server for the integration tests (aiosmtpd), delivering into a Maildir.

Two listeners: plain (no TLS, no AUTH) and one that requires STARTTLS and AUTH. Recipients
whose local part starts with "reject" get 550 and with "busy" get 451, so that tests can
exercise permanent and transient failures.

usage: smtp_test_server.py MAILDIR PLAIN_PORT TLS_PORT CERT KEY USER PASSWORD
"""
import asyncio
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

maildir, plain_port, tls_port, cert, key, user, password = sys.argv[1:]


class ScriptedMailbox(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 mailbox unavailable"
        if local.startswith("busy"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)

plain = Controller(ScriptedMailbox(maildir), hostname="127.0.0.1", port=int(plain_port))
secure = Controller(
    ScriptedMailbox(maildir),
    hostname="127.0.0.1",
    port=int(tls_port),
    tls_context=context,
    require_starttls=True,
    authenticator=authenticator,
    auth_required=True,
    auth_require_tls=True,
)
plain.start()
secure.start()
print("ready", flush=True)
try:
    asyncio.get_event_loop().run_forever()
finally:
    plain.stop()
    secure.stop()
