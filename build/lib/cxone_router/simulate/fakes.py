"""Plausible contact-center data: who calls, from where, about what, and who answers.

Every function draws from the `random.Random` it is given, never from the global one, so a
seed fixes the whole run. Numbers use fictional ranges where a country has one (UK 07700 900,
US 555-01xx is too small to be varied, so US numbers use real area codes with made-up lines);
e-mail domains are the reserved `example.*` ones.
"""

from __future__ import annotations

import random
import uuid

FIRST_NAMES = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Ethan",
    "Amara", "Yusuf", "Chloe", "Hiroshi", "Priya", "Lena", "Diego", "Fatima", "Jonas", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Nguyen", "Johnson", "Müller", "Rossi", "Patel", "Kim", "Brown",
    "Okafor", "Silva", "Dubois", "Kowalski", "Haddad", "Tanaka", "Jensen", "Lopez", "Novak",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
TOLL_FREE_PREFIXES = ("800", "833", "844", "855", "866", "877", "888")
US_AREA_CODES = ("212", "303", "312", "415", "512", "617", "702", "801", "206", "305", "404")
QUEUES = ("Sales", "Support", "Billing", "Retention", "Technical Support", "Claims", "Orders")
SKILLS = {
    "voice": ("Sales_Voice_EN", "Support_Voice_EN", "Billing_Voice_EN", "Support_Voice_ES"),
    "chat": ("Sales_Chat_EN", "Support_Chat_EN", "Support_Chat_ES", "Orders_Chat_EN"),
    "sms": ("Support_SMS_EN", "Orders_SMS_EN", "Appointments_SMS_EN"),
    "email": ("Support_Email_EN", "Billing_Email_EN", "Claims_Email_EN"),
}
CUSTOMER_TEXTS = (
    "Hi, my order {order} hasn't arrived yet. Can you check?",
    "I was charged twice on my last bill.",
    "How do I reset my password?",
    "I'd like to cancel my subscription.",
    "Can I change the delivery address for order {order}?",
    "The app keeps crashing when I open my account page.",
    "Do you ship to Canada?",
    "I need a copy of invoice {order} for my accountant.",
    "My internet has been down since this morning.",
    "Is there a discount if I upgrade to the annual plan?",
    "Thanks, that fixed it!",
    "Still waiting for a refund on {order}.",
    "Can someone call me back after 5pm?",
    "¿Pueden ayudarme con mi factura?",
    "What are your opening hours on Saturday?",
    "The tracking number you sent me doesn't work.",
)
AGENT_TEXTS = (
    "Thanks for reaching out, {name}. Let me look into that for you.",
    "I can see order {order} here; it left our warehouse yesterday.",
    "I've issued a refund; it should show within 3-5 business days.",
    "Could you confirm the email address on the account?",
    "I've reset it; you should receive a link shortly.",
    "Is there anything else I can help you with today?",
    "I'm transferring you to our billing team.",
    "Sorry for the trouble, {name}. I've escalated this to our technicians.",
)
EMAIL_SUBJECTS = ("Order {order}", "Billing question", "Refund request", "Account access")


def phone_number(rng: random.Random) -> str:
    """An E.164 number: mostly US, some UK mobile, some German mobile."""
    pick = rng.random()
    if pick < 0.7:
        exchange = rng.randint(200, 999)
        return f"+1{rng.choice(US_AREA_CODES)}{exchange}{rng.randint(0, 9999):04d}"
    if pick < 0.85:
        return f"+447700900{rng.randint(0, 999):03d}"
    return f"+4915{rng.randint(1, 9)}{rng.randint(0, 99_999_999):08d}"


def company_number(rng: random.Random) -> str:
    """A toll-free number a contact center would publish."""
    prefix = rng.choice(TOLL_FREE_PREFIXES)
    return f"+1{prefix}555{rng.randint(0, 9999):04d}"


def person_name(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)


def email_address(rng: random.Random, first: str, last: str) -> str:
    local = rng.choice((f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}"))
    ascii_local = local.lower().encode("ascii", "ignore").decode()
    return f"{ascii_local}@{rng.choice(EMAIL_DOMAINS)}"


def uuid4(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def numeric_id(rng: random.Random, digits: int = 12) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def chat_identity(rng: random.Random) -> str:
    """Chat end users are known by a 64-hex-digit id, as in the DFO fixtures."""
    return f"{rng.getrandbits(256):064x}"


def order_number(rng: random.Random) -> str:
    return f"#{rng.randint(100000, 999999)}"


def customer_text(rng: random.Random, order: str) -> str:
    return rng.choice(CUSTOMER_TEXTS).format(order=order)


def agent_text(rng: random.Random, order: str, name: str) -> str:
    return rng.choice(AGENT_TEXTS).format(order=order, name=name)
