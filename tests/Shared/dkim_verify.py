"""An independent DKIM verifier for the tests: Debian's python3-dkim (dkimpy).

    python3 dkim_verify.py SELECTOR._domainkey.DOMAIN "v=DKIM1; k=rsa; p=..." FILE.eml [FILE.eml ...]

DNS is answered from the arguments: the TXT record is given for exactly that name and no other, so a signature
that names another selector or domain fails. Prints one line per file, "pass FILE" or "fail FILE: why", and
exits 1 if any failed.
"""
import logging
import sys

import dkim

name, record, files = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]


def dnsfunc(query, timeout=5):
    # dkimpy asks with or without the root's trailing dot depending on its version.
    return record if query.rstrip(b".").lower() == name.lower() else None


failed = 0
for path in files:
    with open(path, "rb") as f:
        data = f.read()
    log = []

    class Collect(logging.Handler):
        def emit(self, rec):
            log.append(rec.getMessage())

    logger = logging.getLogger("dkim_verify")
    logger.handlers = [Collect()]
    logger.setLevel(logging.DEBUG)
    try:
        ok = dkim.verify(data, logger=logger, dnsfunc=dnsfunc)
        why = "; ".join(log[-3:])
    except Exception as e:  # a malformed signature is a failure with a reason, not a crash
        ok, why = False, "%s: %s" % (type(e).__name__, e)
    if ok:
        print("pass %s" % path)
    else:
        failed += 1
        print("fail %s: %s" % (path, why))
sys.stdout.flush()
sys.exit(1 if failed else 0)
