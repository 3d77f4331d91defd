"""Which company (account) a lead belongs to, by its email domain. Pure, no I/O.

Leads of one company share its email domain (jane@acme-corp.com, tom@acme-corp.com), so the
domain names the account; addresses at free-mail providers (gmail.com, ...) say nothing about a
company and belong to no account. Admins map further domains onto an account (acme.co.uk onto
acme-corp.com) in handoff's account API; this module knows only the rule and the list.
"""

# Free-mail and consumer ISP domains: a person's own mailbox, not a company's. Kept here, in one
# place, so routing and reports agree; extend it when a provider shows up in real leads.
FREE_MAIL_DOMAINS: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de",
    "yahoo.es", "yahoo.it", "yahoo.co.jp", "yahoo.com.br", "ymail.com", "rocketmail.com",
    "hotmail.com", "hotmail.co.uk", "hotmail.fr", "hotmail.de", "hotmail.it", "hotmail.es",
    "outlook.com", "outlook.de", "outlook.fr", "live.com", "live.co.uk", "live.fr", "msn.com",
    "windowslive.com", "aol.com", "aim.com", "icloud.com", "me.com", "mac.com",
    "protonmail.com", "proton.me", "pm.me", "tutanota.com", "tuta.io", "zoho.com",
    "zohomail.com", "mail.com", "email.com", "gmx.com", "gmx.net", "gmx.de", "gmx.at",
    "gmx.ch", "web.de", "t-online.de", "freenet.de", "posteo.de", "mailbox.org", "orange.fr",
    "wanadoo.fr", "free.fr", "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it",
    "btinternet.com", "sky.com", "virginmedia.com", "comcast.net", "verizon.net", "att.net",
    "sbcglobal.net", "cox.net", "charter.net", "earthlink.net", "juno.com", "yandex.ru",
    "yandex.com", "mail.ru", "rambler.ru", "qq.com", "163.com", "126.com", "sina.com",
    "naver.com", "daum.net", "hanmail.net", "rediffmail.com", "seznam.cz", "wp.pl", "o2.pl",
    "interia.pl", "onet.pl", "bol.com.br", "uol.com.br", "terra.com.br", "hey.com",
    "fastmail.com", "fastmail.fm", "hushmail.com", "inbox.com", "lycos.com", "bigpond.com",
    "optusnet.com.au", "shaw.ca", "rogers.com", "sympatico.ca", "telus.net",
})


def email_domain(email: str | None) -> str | None:
    """The lower-case domain of an email address (None when there is none)."""
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower().rstrip(".") or None


def is_free_mail(domain: str) -> bool:
    """Whether `domain` is a free-mail provider's (no company behind it)."""
    return domain.strip().lower() in FREE_MAIL_DOMAINS


def account_domain(email: str | None) -> str | None:
    """The account a lead belongs to by its email address: its company domain, or None for a
    free-mail address (or none at all)."""
    domain = email_domain(email)
    if domain is None or is_free_mail(domain):
        return None
    return domain
