"""Demo data for `make run`: the bar's price list, a card per member and a little history at the bar.

Safe to run on every start: products and cards are found by name and identifier, the opening deposit
is made once, and the kiosk's charges carry fixed idempotency keys, so a second run replays them.
"""

import hashlib

from django.db import transaction

from apps.api.exceptions import Conflict
from apps.checkout import services
from apps.checkout.models import Card, Product, Transaction
from apps.members.models import Member
from apps.oauth.models import Application

PRODUCTS = [
    ("Beer (pils)", 220),
    ("Special beer", 350),
    ("Soft drink", 150),
    ("Coffee", 100),
    ("Tea", 80),
    ("Crisps", 120),
    ("Tosti", 250),
]
OPENING_DEPOSIT_CENTS = 2500
OPENING_DEPOSIT = "Demo: opening deposit (bank transfer)"
KIOSK_CLIENT_ID = "demo-kiosk"
# (product name, quantity) per round at the bar, charged by the demo kiosk.
ROUNDS = [
    [("Beer (pils)", 2), ("Crisps", 1)],
    [("Coffee", 1)],
    [("Soft drink", 1), ("Tosti", 1)],
]


def demo_card_identifier(member: Member) -> str:
    """A stable, realistic 7-byte RFID UID per demo member."""
    return "04" + hashlib.sha256(f"latch-demo-card:{member.email}".encode()).hexdigest()[:12].upper()


@transaction.atomic
def load_demo(members: list[Member]) -> None:
    products = {}
    for name, price_cents in PRODUCTS:
        products[name], _ = Product.objects.get_or_create(name=name, defaults={"price_cents": price_cents})
    kiosk = Application.objects.filter(client_id=KIOSK_CLIENT_ID).first()

    for member in members:
        card, _ = Card.objects.get_or_create(
            identifier=demo_card_identifier(member), defaults={"member": member}
        )
        if card.member_id != member.pk:
            continue  # an administrator gave this card to someone else: leave it be
        if not Transaction.objects.filter(member=member, description=OPENING_DEPOSIT).exists():
            services.deposit(
                member=member,
                amount_cents=OPENING_DEPOSIT_CENTS,
                created_by=None,
                description=OPENING_DEPOSIT,
            )
        if kiosk is None or not card.active:
            continue
        for number, round_ in enumerate(ROUNDS, start=1):
            if any(not products[name].active for name, _ in round_):
                continue
            try:
                services.charge(
                    application=kiosk,
                    card=card,
                    items=[
                        {"product_id": products[name].pk, "quantity": quantity} for name, quantity in round_
                    ],
                    idempotency_key=f"demo-{member.public_id}-{number}",
                    description="Bar",
                )
            except Conflict:
                continue  # spent (or the round was changed) since the last run: nothing to add
