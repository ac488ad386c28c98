"""Story-driven synthetic contact-center conversations for the heads no public data covers.

Why this exists: the public archives in ``../shared/data`` have no effort labels, no churn outcomes, no
repeat-contact links and no long calls. Each generated conversation is realised from an explicit *story*
(industry, customer situation, prior contacts, agent competence, policy, outcome, effort events, churn
drivers). Labels are computed from the story's events and every event is written into the text, so the
labels follow from what happens in the conversation, not the other way round. The story, the turns that
decide each label (``meta.evidence_turns``) and any deliberately flipped label (``meta.label_noise``) are
kept in ``meta`` so every record can be audited.

Text is composed, not templated: paraphrase pools per dialogue act with nested alternatives and slots
(see ``_expand``), industry- and cause-specific clauses, optional asides, varied turn orders, confusers
that share vocabulary across classes (politeness on failed calls, claims of success the customer then
contradicts, hold/transfer words on easy calls) and channel styles (ASR-like voice transcripts, casual chat,
email). Determinism: only ``random.Random(seed)`` instances, no ``hash()`` of strings, no clock.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any, Iterator, Sequence

logger = logging.getLogger(__name__)

__all__ = ["SynthConfig", "SynthSummary", "generate", "iter_conversations", "CAUSES", "INDUSTRIES", "ALL_INDUSTRIES", "HEAD_CLASSES"]

CAUSES: tuple[str, ...] = (
    "refund",
    "order_status",
    "billing_error",
    "order_change",
    "reservation_change",
    "new_purchase_or_booking",
    "account_update",
    "account_access",
    "account_inquiry",
    "technical_fault",
    "cancellation",
    "payment_issue",
    "pricing_promo",
    "card_service",
    "fraud_security",
    "product_or_policy_info",
    "other",
)

# head name (label spec) -> (label field in records, classes)
HEAD_CLASSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "resolution": ("resolution", ("resolved", "unresolved", "escalated")),
    "contact_cause": ("cause", CAUSES),
    "churn_risk": ("churn_risk", ("not_at_risk", "at_risk")),
    "repeat_contact": ("repeat_contact", ("first_contact", "repeat")),
    "effort": ("effort", ("low", "medium", "high")),
}

# The default mix: every shipped corpus so far was generated from these six, so the default stays them and
# an old recipe regenerates the same records.
INDUSTRIES: tuple[str, ...] = (
    "retail",
    "telecom",
    "travel_mobility",
    "banking",
    "utilities",
    "subscription_software",
)
# Opt-in (``SynthConfig.industries``): domains whose purchase, order and policy vocabulary none of the six
# covers, for a corpus that has to transfer to sources it has not seen.
EXTRA_INDUSTRIES: tuple[str, ...] = ("food_and_drink", "insurance", "media_entertainment")
ALL_INDUSTRIES: tuple[str, ...] = INDUSTRIES + EXTRA_INDUSTRIES


# ------------------------------------------------------------------------------------------ config


def _check_range(name: str, value: Any, lo: float, hi: float, integer: bool = False) -> None:
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type:
        raise ValueError(f"SynthConfig.{name} must be {kind} in [{lo}, {hi}], got {value!r}")
    if not (lo <= value <= hi):
        raise ValueError(f"SynthConfig.{name} must be in [{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator; validated on creation so a bad value fails before anything is written."""

    long_share: float = 0.08  # share of long calls (>= long_min_tokens whitespace tokens, voice)
    label_noise: float = 0.03  # share of head labels flipped on purpose (recorded in meta.label_noise)
    voice_share: float = 0.45
    email_share: float = 0.07
    ai_share: float = 0.3  # share of chat/voice conversations that start with a bot
    repeat_share: float = 0.15  # share that are repeat contacts of an earlier, unresolved one in the file
    prior_outside_share: float = 0.06  # repeat contacts whose earlier contact is before the file window
    end_evidence_share: float = 0.5  # share of long calls whose resolution evidence is only in the last 10%
    start_date: str = "2024-03-01"
    window_days: int = 60
    long_min_tokens: int = 3000
    long_max_tokens: int = 5000
    industries: tuple[str, ...] = INDUSTRIES  # which of ALL_INDUSTRIES to draw from, at their relative weights
    wide_requests: float = 0.0  # share of opening requests worded from the cross-industry lexicon (0: corpus unchanged)

    def __post_init__(self) -> None:
        if isinstance(self.industries, str) or not isinstance(self.industries, (list, tuple)):
            raise ValueError(f"SynthConfig.industries must be a list of names from {list(ALL_INDUSTRIES)}, got {self.industries!r}")
        object.__setattr__(self, "industries", tuple(self.industries))
        unknown = [x for x in self.industries if x not in ALL_INDUSTRIES]
        if not self.industries or unknown or len(set(self.industries)) != len(self.industries):
            raise ValueError(
                f"SynthConfig.industries must be a non-empty list of distinct names from {list(ALL_INDUSTRIES)}, "
                f"got {list(self.industries)!r}" + (f" (unknown: {unknown})" if unknown else "")
            )
        for name in (
            "long_share",
            "label_noise",
            "voice_share",
            "email_share",
            "ai_share",
            "repeat_share",
            "prior_outside_share",
            "end_evidence_share",
            "wide_requests",
        ):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        _check_range("label_noise", self.label_noise, 0.0, 0.5)
        _check_range("repeat_share", self.repeat_share, 0.0, 0.45)
        _check_range("window_days", self.window_days, 1, 3650, integer=True)
        _check_range("long_min_tokens", self.long_min_tokens, 500, 50_000, integer=True)
        _check_range("long_max_tokens", self.long_max_tokens, self.long_min_tokens, 100_000, integer=True)
        if self.voice_share + self.email_share > 1.0:
            raise ValueError(
                f"SynthConfig.email_share must be in [0, {1.0 - self.voice_share:.3f}] "
                f"(voice_share + email_share <= 1), got {self.email_share!r}"
            )
        if self.long_share > self.voice_share:
            raise ValueError(
                f"SynthConfig.long_share must be in [0, voice_share={self.voice_share}] (long calls are voice), "
                f"got {self.long_share!r}"
            )
        if self.repeat_share + self.prior_outside_share > 0.6:
            raise ValueError(
                f"SynthConfig.prior_outside_share must be in [0, {0.6 - self.repeat_share:.3f}] "
                f"(repeat_share + prior_outside_share <= 0.6), got {self.prior_outside_share!r}"
            )
        try:
            date.fromisoformat(str(self.start_date))
        except ValueError:
            raise ValueError(
                f"SynthConfig.start_date must be an ISO date (YYYY-MM-DD), got {self.start_date!r}"
            ) from None


# --------------------------------------------------------------------------------- template engine
#
# Template syntax: ``{a|b|c}`` picks one alternative (nestable; an empty alternative makes a part
# optional), ``<slot>`` inserts a slot value. A slot holding a list or tuple picks one of its entries and
# expands it as a template on every use; a slot holding a str is inserted literally.

_TPL_CACHE: dict[str, tuple] = {}


def _parse_seq(s: str, i: int, nested: bool) -> tuple[tuple, int]:
    parts: list[Any] = []
    buf: list[str] = []
    n = len(s)
    while i < n:
        c = s[i]
        if nested and (c == "|" or c == "}"):
            break
        if c == "{":
            alts = []
            i += 1
            while True:
                sub, i = _parse_seq(s, i, True)
                alts.append(sub)
                if i >= n:
                    raise ValueError(f"template has an unclosed '{{': {s!r}")
                if s[i] == "}":
                    i += 1
                    break
                i += 1
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(("alt", tuple(alts)))
        elif c == "<":
            j = s.find(">", i)
            if j < 0:
                raise ValueError(f"template has an unclosed '<': {s!r}")
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(("slot", s[i + 1 : j]))
            i = j + 1
        else:
            buf.append(c)
            i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts), i


def _parse(src: str) -> tuple:
    node = _TPL_CACHE.get(src)
    if node is None:
        node, _ = _parse_seq(src, 0, False)
        _TPL_CACHE[src] = node
    return node


def _render(node: tuple, rng: Random, slots: dict[str, Any], depth: int = 0) -> str:
    out: list[str] = []
    for p in node:
        if type(p) is str:
            out.append(p)
        elif p[0] == "alt":
            alts = p[1]
            out.append(_render(alts[rng.randrange(len(alts))], rng, slots, depth))
        else:
            try:
                v = slots[p[1]]
            except KeyError:
                raise KeyError(f"template slot <{p[1]}> has no value") from None
            if isinstance(v, str):
                out.append(v)
            else:
                if depth > 6:
                    raise ValueError(f"slot <{p[1]}> nests too deeply")
                out.append(_render(_parse(v[rng.randrange(len(v))]), rng, slots, depth + 1))
    return "".join(out)


_RE_SPACES = re.compile(r"[ \t]+")
_RE_SPACE_PUNCT = re.compile(r" +([,.?!;:])")
_RE_DOUBLE_PUNCT = re.compile(r",\s*([,.?!])")
_RE_DOTS = re.compile(r"([.?!])\s*\.(?!\.)")


def _tidy(text: str) -> str:
    t = _RE_SPACES.sub(" ", text)
    t = _RE_SPACE_PUNCT.sub(r"\1", t)
    t = _RE_DOUBLE_PUNCT.sub(r"\1", t)
    t = _RE_DOTS.sub(r"\1", t)
    t = t.strip().lstrip(",;: ").rstrip(",;: ").strip()
    if t and t[0].islower():
        t = t[0].upper() + t[1:]
    return t


def _expand(tpl: str | Sequence[str], rng: Random, slots: dict[str, Any], cap: bool = True) -> str:
    """One realisation of a template (or of one template picked from a pool)."""
    if not isinstance(tpl, str):
        tpl = tpl[rng.randrange(len(tpl))]
    text = _tidy(_render(_parse(tpl), rng, slots))
    if not cap and text[:1].isupper() and (text[1:2].islower() or text[1:2] == " ") and not text.startswith(("I ", "I'")):
        text = text[0].lower() + text[1:]
    return text


def _pick(rng: Random, seq: Sequence[Any]) -> Any:
    return seq[rng.randrange(len(seq))]


def _wpick(rng: Random, pairs: Sequence[tuple[Any, float]]) -> Any:
    total = 0.0
    for _, w in pairs:
        total += w
    r = rng.random() * total
    acc = 0.0
    for v, w in pairs:
        acc += w
        if r < acc:
            return v
    return pairs[-1][0]


# ------------------------------------------------------------------------------------- vocabulary

_FIRST = (
    "Maria James Aisha Tom Priya Daniel Chloe Mohammed Grace Luis Hannah Kwame Sofia Ben Mei Oliver Fatima "
    "Jack Zara Ethan Nadia Sam Ingrid Raj Lucy Diego Emma Tariq Olivia Marcus Yuki Sean Amara Pavel Rosa Liam "
    "Chen Ama Noah Leila Gareth Ivy Jonas Bea Kofi Ana Derek Nina Omar Elena Ray Tess Vikram Joy Hugo Carmen "
    "Alan Siobhan Dev Wanjiru Patrick Agnieszka Bilal Heather Mateo Femi Gloria Stuart Aoife Hamza Lena Trevor "
    "Keiko Andre Margaret Yusuf Bianca Colin Esther Ravi Freya Dmitri Lorna Tunde Paula Brendan Shirin Wes"
).split()
_LAST = (
    "Smith Okafor Patel Nguyen Garcia Kowalski Murphy Chen Johnson Haddad Silva Brown Ahmed Novak Williams "
    "Rossi Kim Walsh Mensah Dubois Taylor Fernandez Schmidt O'Brien Singh Hughes Petrov Mwangi Clarke Costa "
    "Lindqvist Adeyemi Reyes Morgan Kaur Fischer Byrne Tanaka Evans Moreau Ali Campbell Jensen Osei Baker"
).split()
_AGENTS = (
    "Sarah Mike Jess Arjun Claire Dave Fiona Ahmed Leah Chris Mandy Tony Rachel Kev Nisha Paul Joanne Sipho "
    "Kate Ryan Becky Imran Louise Marco Shauna Dan Ellie Raymond Tasha Gav Hollie Jordan Anita Neil Megan Luca"
).split()
_CITIES = (
    "Lisbon Manchester Denver Toronto Porto Glasgow Austin Dublin Leeds Seattle Madrid Bristol Chicago "
    "Edinburgh Phoenix Lyon Cardiff Boston Nice Oslo Rome Belfast Vancouver Krakow Valencia Newcastle Atlanta"
).split()
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")
_NUMWORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()

_SITUATIONS = (
    ("working_from_home", "I work from home so I really need this sorted"),
    ("moving_house", "we're moving house at the end of the month"),
    ("travelling", "I'm away travelling next week"),
    ("small_business", "I run a small business off this account"),
    ("carer", "I'm sorting this out for my mum, she's on the account with me"),
    ("new_parent", "I've got a newborn so I'm running on no sleep"),
    ("student", "I'm a student so money's tight"),
    ("night_shift", "I work nights so I can only call at odd times"),
    ("recently_bereaved", "my husband used to deal with all this and he passed away in the spring"),
    ("lunch_break", "I'm on my lunch break so I haven't got long"),
    ("driving", "I'm driving at the moment, you're on speaker"),
    ("elderly", "I'm not very good with computers"),
    ("busy_parent", "the kids are home from school so it's a bit chaotic here"),
    ("new_customer", "I only joined a couple of months ago"),
    ("long_term", "I've been a customer for years"),
)

_IND: dict[str, dict[str, Any]] = {
    "retail": {
        "companies": ["Brightcart", "Northwind Home", "Maple & Finch", "Cobalt Outfitters", "Harbour Lane"],
        "competitors": ["ShopRight", "Zapmart", "Hollis & Pike", "Amberly's", "QuickBasket"],
        "item": [
            "the blue office chair", "a pair of trail running shoes", "the 55 inch TV", "the espresso machine",
            "a set of linen bed sheets", "the kids' balance bike", "two bedside lamps", "the air fryer",
            "a winter coat", "the cordless vacuum", "a dining table", "the garden hose reel",
            "a rug for the living room", "the gaming headset", "a stand mixer", "three pairs of jeans",
            "the baby monitor", "a mattress topper", "the oak bookshelf", "a set of saucepans",
            "the smart doorbell", "a wool jumper", "the desk lamp", "a cot for the baby",
        ],
        "order_noun": ["order", "parcel", "delivery"],
        "order_fmt": "#D7",
        "booking": [
            "the delivery slot", "the assembly appointment", "my click and collect slot",
            "the furniture delivery on <weekday>", "the installation slot for the washing machine",
        ],
        "new_thing": [
            "<item2>", "a gift card for my niece", "the same jacket in a bigger size",
            "an extended warranty", "the bundle with the matching chairs",
        ],
        "faults": [
            ("the app crashes every time I open my orders", "the app's still crashing"),
            ("the checkout page just keeps spinning when I pay", "it's still just spinning"),
            ("<item> won't turn on at all", "it still won't turn on"),
            ("the smart doorbell won't connect to the wifi", "it still won't connect"),
            ("the website won't let me add anything to the basket", "the basket's still empty"),
            ("the vacuum cuts out after about a minute", "it still cuts out"),
            ("the code on the receipt won't scan for the return", "it still won't scan"),
        ],
        "steps": [
            "logging out and back in again", "clearing the app cache", "trying a different browser",
            "updating the app", "holding the power button for ten seconds", "unplugging it for a minute",
            "turning the bluetooth off and on", "using the desktop site instead", "resetting it to factory settings",
            "charging it fully first", "scanning the code again with the lights on", "deleting and reinstalling the app",
        ],
        "card": ["my store card", "the gift card I got for my birthday", "my Plus rewards card"],
        "addon": [
            "the extended warranty", "the Plus delivery pass", "the gift wrapping", "the assembly service",
            "the monthly coffee pod subscription",
        ],
        "closure": ["my account", "my Plus membership", "the store account", "the membership"],
        "plan": ["the Plus membership", "the free delivery pass", "the premium membership"],
        "app": ["the app", "the website", "the checkout page"],
        "verify": [
            ("your email address and the postcode on the account", "<email>, and the postcode is <postcode>"),
            ("the order number and your full name", "it's <order_no>, and I'm <cust_full>"),
            ("your name and the email you ordered with", "<cust_full>, email's <email>"),
        ],
        "teams": ["the returns team", "the warehouse team", "our customer relations team", "a team leader",
                  "the courier liaison team"],
        "depts": ["returns", "the delivery team", "billing", "the online orders team", "customer relations"],
        "info": [
            "how long do I have to return something||you've got <days> days from delivery, as long as it's unused",
            "do you price match||we match the big retailers if it's the exact same model and it's in stock",
            "can I collect from a store instead||yes, click and collect is free at any of our stores",
            "does <item> come with a warranty||it's got a two year manufacturer warranty",
            "do you deliver on Sundays||in most areas, yes, there's a small extra charge",
            "can I return something I bought in the sale||sale items can come back within fourteen days",
            "do you ship to <city>||we do, standard delivery there is three to five working days",
        ],
        "inquiry": [
            "how many points have I got on my rewards card||you've got <points> points, that's about <small_amount> off",
            "when does my Plus membership renew||it renews on <date>",
            "what was the total on my last order||it came to <amount>",
            "is my store credit still valid||yes, you've got <small_amount> of credit until <date>",
        ],
        "other": [
            "I wanted to say the delivery driver yesterday was brilliant",
            "one of your drivers blocked my driveway for an hour",
            "I got a letter from you and I don't understand what it's about",
            "I'd like to make a complaint about how I was spoken to in your <city> store",
            "can you send me a paper copy of my receipt for my insurance",
            "I keep getting marketing emails even though I unsubscribed",
        ],
        "amount": (8, 900),
        "value": (60, 2500),
        "cause_weights": {
            "refund": 10, "order_status": 12, "billing_error": 4, "order_change": 9, "reservation_change": 3,
            "new_purchase_or_booking": 6, "account_update": 4, "account_access": 4, "account_inquiry": 3,
            "technical_fault": 5, "cancellation": 4, "payment_issue": 6, "pricing_promo": 7, "card_service": 2.5,
            "fraud_security": 2, "product_or_policy_info": 8, "other": 4,
        },
    },
    "telecom": {
        "companies": ["Skyline Mobile", "Fibrenet", "Kestrel Telecom", "Bluewave"],
        "competitors": ["Vantage Mobile", "NetStream", "Orbit Broadband", "Lumo"],
        "item": [
            "the new phone", "a replacement SIM", "the replacement router", "the mesh booster", "the TV box",
            "the new handset", "the wifi extender", "the tablet on my contract",
        ],
        "order_noun": ["order", "delivery", "installation"],
        "order_fmt": "ORD-6",
        "booking": [
            "the engineer appointment", "the installation visit", "my store appointment",
            "the broadband install on <weekday>", "the technician visit",
        ],
        "new_thing": [
            "a new phone on contract", "an extra line for my daughter", "the faster fibre package",
            "the sports TV add-on", "a SIM-only deal", "a second SIM for the tablet",
        ],
        "faults": [
            ("the internet keeps dropping out every evening", "it's still dropping out"),
            ("I've got no signal at all at home", "there's still no signal"),
            ("the router light's flashing orange", "the light's still orange"),
            ("my broadband speed is down to about three meg", "it's still crawling"),
            ("calls keep cutting out after a minute or so", "calls are still cutting out"),
            ("the TV box is stuck on the loading screen", "it's still stuck loading"),
            ("I can't send any texts", "texts are still failing"),
            ("my mobile data isn't working at all", "data's still not working"),
            ("the landline's got a horrible crackle on it", "the crackle's still there"),
        ],
        "steps": [
            "turning the router off at the wall for thirty seconds", "unplugging the grey cable and plugging it back in",
            "running a speed test in the app", "moving the router off the floor", "toggling airplane mode",
            "restarting the phone", "resetting the network settings", "checking the filter on the phone socket",
            "plugging a laptop straight into the router with a cable", "holding the reset button for ten seconds",
            "taking the SIM out and putting it back in", "switching the wifi channel", "checking the APN settings",
        ],
        "card": [],
        "addon": [
            "the sports add-on", "the international calling bundle", "the phone insurance", "the kids' TV pack",
            "the extra data bolt-on",
        ],
        "closure": ["my contract", "my broadband", "the account", "my mobile contract", "both lines"],
        "plan": ["the Unlimited 60 plan", "the 500 meg fibre", "the family bundle", "the 20 gig SIM-only plan"],
        "app": ["the app", "the router", "my phone", "the TV box"],
        "verify": [
            ("your account number and the security PIN", "account number <acct_id>, PIN is <pin>"),
            ("the mobile number on the account and your date of birth", "it ends <phone_tail>, born <dob>"),
            ("your full name and the first line of the address", "<cust_full>, <house_no> <street>"),
        ],
        "teams": ["the network team", "our second line technical team", "the field engineers",
                  "the billing disputes team", "retentions", "a team leader"],
        "depts": ["technical support", "billing", "the broadband team", "loyalty", "the mobile team"],
        "info": [
            "does my plan work in Spain||yes, EU roaming is included up to <n_small> gig a month",
            "can I keep my number if I get a new SIM||yes, we just move the number across",
            "what speeds should I be getting||the estimate for your line is between <n_small>0 and <n_small>5 meg",
            "is there a fee to upgrade early||it depends on the months left, for you it'd be <small_amount>",
            "can I get a landline without broadband||not any more, I'm afraid, it's all bundled now",
            "do you do social tariffs||we do, if you're on certain benefits it's <small_amount> a month",
        ],
        "inquiry": [
            "when does my contract end||your minimum term finishes on <date>",
            "how much data have I used this month||you've used about <n_small> gig so far",
            "what plan am I actually on||you're on <plan> at <price> a month",
            "why's my bill <amount> this month||it's the line rental plus your calls abroad",
        ],
        "other": [
            "an engineer left a hole in my wall after the install",
            "I want to complain about the cold calls I keep getting from your sales team",
            "there's a green cabinet on my street that's been left open for weeks",
            "I got a letter saying my landline is being switched to digital and I don't get it",
            "I'd like to say thanks to the engineer who came out on <weekday>",
        ],
        "amount": (12, 260),
        "value": (180, 1800),
        "cause_weights": {
            "refund": 3, "order_status": 5, "billing_error": 11, "order_change": 3, "reservation_change": 4,
            "new_purchase_or_booking": 6, "account_update": 4, "account_access": 3, "account_inquiry": 5,
            "technical_fault": 16, "cancellation": 8, "payment_issue": 5, "pricing_promo": 7, "card_service": 0,
            "fraud_security": 3, "product_or_policy_info": 6, "other": 3,
        },
    },
    "travel_mobility": {
        "companies": ["Aerolume Airways", "RailLink", "Harbor Car Rental", "Cityride"],
        "competitors": ["SkyJet", "Coastline Rail", "ZipCar Hire", "Hopp Rides"],
        "brands": {
            "Aerolume Airways": {
                "item": ["my flight to <city>", "the return flight from <city2>", "the flights for the four of us",
                         "the extra bag on my booking", "my seat upgrade"],
                "booking": ["my flight to <city> on <weekday>", "the return flight", "my seat on the <city> flight",
                            "the family booking to <city>"],
                "new_thing": ["a flight to <city> for next month", "extra legroom seats", "a hold bag for the return",
                              "two tickets to <city2> in the summer"],
                "faults": [("the app won't load my boarding pass", "the boarding pass still won't load"),
                           ("online check-in keeps throwing an error", "check-in's still erroring"),
                           ("the website crashes when I try to pick seats", "it's still crashing")],
                "info": ["what's the hand luggage allowance||one cabin bag up to ten kilos and a small personal item",
                         "can I take my bike on the plane||yes, as sports equipment, it's <small_amount> each way",
                         "how early do I need to be at the airport||we'd say two hours for European flights",
                         "can I change the name on a ticket||names can be corrected but not transferred to someone else"],
            },
            "RailLink": {
                "item": ["my season ticket", "the train tickets to <city>", "the return to <city2>",
                         "my railcard", "the first class upgrade"],
                "booking": ["my train to <city> on <weekday>", "the seat reservation on the <time> train",
                            "the sleeper to <city2>", "my advance ticket"],
                "new_thing": ["a season ticket", "tickets to <city> for a group of six", "a railcard for my son",
                              "an advance ticket to <city2>"],
                "faults": [("the e-ticket won't show in the app", "the ticket still won't show"),
                           ("the barcode won't scan at the gates", "it still won't scan"),
                           ("the app says my railcard's invalid", "it still says invalid")],
                "info": ["can I use an advance ticket on an earlier train||no, advance tickets are only valid on the booked train",
                         "is there wifi on the <city> route||yes, free wifi on all the intercity trains",
                         "do I need a ticket for my dog||no, dogs travel free, up to two per passenger"],
            },
            "Harbor Car Rental": {
                "item": ["the rental car from <city> airport", "the car hire for the weekend", "the child seat I added",
                         "the excess insurance", "the one-way hire to <city2>"],
                "booking": ["the car hire pick-up on <weekday>", "my rental in <city>", "the drop-off at <city2> airport"],
                "new_thing": ["a car for next weekend", "a van for a house move", "a seven seater for the holidays"],
                "faults": [("the car's showing an engine warning light", "the light's still on"),
                           ("the keyless entry won't unlock the car", "it still won't unlock"),
                           ("the sat nav in the car doesn't work", "it still doesn't work")],
                "info": ["can my partner drive the car too||yes, as an additional driver, it's <small_amount> a day",
                         "what fuel policy do you have||it's full to full, bring it back with a full tank",
                         "can I take the car abroad||only within the EU and you need to tell us in advance"],
            },
            "Cityride": {
                "item": ["the ride from <city> station", "my monthly ride pass", "the e-scooter trip on <weekday>",
                         "the airport transfer", "the bike hire"],
                "booking": ["the airport transfer on <weekday>", "my scheduled ride for <time>", "the pre-booked taxi"],
                "new_thing": ["a monthly ride pass", "a business account for my team", "an airport pickup next week"],
                "faults": [("the scooter wouldn't unlock even though I paid", "it still won't unlock"),
                           ("the app keeps showing my driver in the wrong place", "it's still wrong"),
                           ("the app charges me but won't start the ride", "it's still doing it")],
                "info": ["is there a cap on surge pricing||no cap, but the app shows the price before you book",
                         "can I book a ride for someone else||yes, you can add their number when you book",
                         "what if I leave something in the car||you can report lost items in the app"],
            },
        },
        "item": [], "booking": [], "new_thing": [], "faults": [], "info": [],
        "order_noun": ["booking", "reservation", "ticket"],
        "order_fmt": "L6",
        "steps": [
            "reinstalling the app", "logging out and back in", "checking the booking under manage my trip",
            "updating the app", "turning location services on", "switching from wifi to mobile data",
            "clearing the browser cookies", "restarting the phone", "using the website instead",
        ],
        "card": ["my RailLink smartcard", "my travel card", "the contactless pass"],
        "addon": ["the travel insurance", "the seat upgrade", "the airport parking add-on", "the excess cover",
                  "the priority boarding"],
        "closure": ["my account", "my ride pass", "the membership", "my frequent flyer account", "my subscription"],
        "plan": ["the monthly ride pass", "the frequent traveller plan", "the Gold membership"],
        "app": ["the app", "the website", "the booking page"],
        "verify": [
            ("the booking reference and the lead passenger's surname", "it's <order_no>, surname <cust_last>"),
            ("your email and date of birth", "<email>, <dob>"),
            ("the email on the account and the last four of the card you paid with", "<email>, card ending <last4>"),
        ],
        "teams": ["the customer relations team", "the refunds team", "ground operations", "a duty manager",
                  "the claims team"],
        "depts": ["bookings", "customer relations", "the refunds team", "special assistance"],
        "inquiry": [
            "how many points have I got||you've got <points> points, enough for a short trip",
            "what's the status of my Gold membership||you're Gold until <date>",
            "did my last trip get added to my account||yes, it's there from <weekday>",
        ],
        "other": [
            "I want to complain about a rude member of staff at the <city> desk",
            "I left my jacket on the train on <weekday>",
            "the driver yesterday was fantastic and I wanted that passed on",
            "I need a receipt for my expenses for the trip last month",
            "I need to ask about wheelchair assistance in general",
        ],
        "amount": (25, 1400),
        "value": (90, 4000),
        "cause_weights": {
            "refund": 11, "order_status": 3, "billing_error": 4, "order_change": 3, "reservation_change": 16,
            "new_purchase_or_booking": 9, "account_update": 3, "account_access": 3, "account_inquiry": 3,
            "technical_fault": 5, "cancellation": 4, "payment_issue": 5, "pricing_promo": 5, "card_service": 1.5,
            "fraud_security": 2, "product_or_policy_info": 9, "other": 4,
        },
    },
    "banking": {
        "companies": ["Meridian Bank", "Crestline Credit Union", "Oakvale Bank", "Northgate Building Society"],
        "competitors": ["Monzo-style app banks", "Pinewood Bank", "Harbourside Savings", "Nova Bank"],
        "item": ["the new debit card", "the chequebook", "the card reader", "the replacement credit card",
                 "the paying-in book", "my new PIN"],
        "order_noun": ["request", "application", "card"],
        "order_fmt": "REQ6",
        "booking": ["the branch appointment", "the mortgage appointment on <weekday>", "my callback with the advisor",
                    "the video appointment with the loans team"],
        "new_thing": ["a savings account for my son", "a personal loan of <amount>", "a credit card",
                      "a joint account", "an overdraft"],
        "faults": [
            ("the app keeps logging me out", "it's still logging me out"),
            ("online banking says my account is unavailable", "it still says unavailable"),
            ("the app won't let me add a new payee", "it still won't let me"),
            ("face login stopped working after the update", "face login's still broken"),
            ("the card reader shows an error code", "it's still showing the error"),
        ],
        "steps": [
            "deleting the app and reinstalling it", "re-registering the device", "updating the phone software",
            "turning face ID off and on in the app settings", "trying on the website instead",
            "putting the card in the reader the other way", "checking the date and time on the phone",
        ],
        "card": ["my debit card", "the credit card", "my partner's card on the joint account", "the business card"],
        "addon": ["the card insurance", "a standing order to my landlord", "the overdraft", "the packaged account perks",
                  "a direct debit for the gym"],
        "closure": ["my current account", "the joint account", "my credit card", "all my accounts", "the savings account"],
        "plan": ["the Premier account", "the packaged account", "the student account"],
        "app": ["the app", "online banking", "the card reader"],
        "verify": [
            ("your date of birth and the last four digits of your card", "<dob>, card ends <last4>"),
            ("your full name and postcode, then two characters from your passcode", "<cust_full>, <postcode>, and it's <chars>"),
            ("the sort code and account number", "<sort_code>, account <acct_id>"),
        ],
        "teams": ["the fraud team", "our disputes team", "the complaints team", "the lending team", "a senior manager",
                  "the specialist support team"],
        "depts": ["the card services team", "fraud", "lending", "the digital banking team", "complaints"],
        "info": [
            "what's the interest rate on the easy saver||it's <rate> percent variable at the moment",
            "can I pay in cash at the post office||yes, with your card, up to a few thousand a day",
            "how long does an international transfer take||usually one to three working days",
            "is there a fee for using my card abroad||there's a <rate> percent foreign transaction fee",
            "what's the daily cash withdrawal limit||it's five hundred a day on your card",
        ],
        "inquiry": [
            "what's my balance||your available balance is <amount>",
            "has my salary gone in yet||yes, it went in this morning",
            "when's my next credit card payment due||the minimum payment is due on <date>",
            "how much is left on my loan||the settlement figure today is <amount>",
        ],
        "other": [
            "I need a letter confirming my account for my landlord",
            "I want to complain about the branch in <city> closing",
            "my late father had an account with you and I don't know where to start",
            "I need a statement in large print",
            "I just wanted to thank the lady in the <city> branch",
        ],
        "amount": (10, 4800),
        "value": (150, 9000),
        "cause_weights": {
            "refund": 2, "order_status": 3, "billing_error": 5, "order_change": 1, "reservation_change": 2,
            "new_purchase_or_booking": 4, "account_update": 7, "account_access": 9, "account_inquiry": 8,
            "technical_fault": 4, "cancellation": 4, "payment_issue": 8, "pricing_promo": 3, "card_service": 14,
            "fraud_security": 12, "product_or_policy_info": 6, "other": 3,
        },
    },
    "utilities": {
        "companies": ["Greenfield Energy", "Riverside Water", "Volta Power", "Brightwater Utilities"],
        "competitors": ["Octave Energy", "SunBridge Power", "Evergreen Gas", "Pulse Energy"],
        "item": ["the smart meter", "the new meter", "the boiler cover", "the water meter", "the EV charger install",
                 "the prepayment top-up card"],
        "order_noun": ["installation", "application", "request"],
        "order_fmt": "WO-6",
        "booking": ["the meter installation appointment", "the engineer visit", "the boiler service on <weekday>",
                    "the smart meter fit", "the meter reading appointment"],
        "new_thing": ["a fixed tariff", "supply at my new flat", "the EV tariff", "boiler cover", "a water meter"],
        "faults": [
            ("the smart meter display is completely blank", "the display's still blank"),
            ("we've had no power since this morning", "we've still got no power"),
            ("the water pressure has dropped to a trickle", "it's still a trickle"),
            ("the meter isn't sending readings", "it's still not sending readings"),
            ("the prepayment meter won't accept my top-up", "it still won't take it"),
            ("the in-home display says no signal", "it still says no signal"),
        ],
        "steps": [
            "pressing the blue button on the meter twice", "checking the trip switches in the fuse box",
            "reading me the numbers on the meter", "turning the in-home display off and on",
            "checking the stopcock under the sink", "moving the display closer to the meter",
            "putting the top-up card in again", "checking if the neighbours have power",
        ],
        "card": ["my prepayment card", "the top-up key", "the gas top-up card"],
        "addon": ["the boiler cover", "the paper bills", "the home emergency cover", "the green energy add-on"],
        "closure": ["my account", "the gas and electric", "my supply", "the account at my old address"],
        "plan": ["the fixed 12 month tariff", "the standard variable tariff", "the EV tariff"],
        "app": ["the app", "the smart meter", "the in-home display"],
        "verify": [
            ("your account number and the first line of the address", "it's <acct_id>, <house_no> <street>"),
            ("your full name and postcode", "<cust_full>, <postcode>"),
            ("the account number off your bill and your date of birth", "<acct_id>, <dob>"),
        ],
        "teams": ["the metering team", "the billing investigations team", "our field engineers", "the network operator",
                  "the complaints team", "a supervisor"],
        "depts": ["metering", "billing", "the moving home team", "the payments team", "emergency faults"],
        "info": [
            "what happens to my tariff if I move||you can take your tariff with you to the new address",
            "is there an exit fee on my tariff||there's a <small_amount> exit fee per fuel until <date>",
            "how do I submit a meter reading||in the app, or by text, or just tell me now",
            "do you offer a priority services register||yes, we can add you if someone in the home needs extra help",
        ],
        "inquiry": [
            "how much am I in credit||you're <small_amount> in credit at the moment",
            "what's my monthly direct debit||it's <amount> a month",
            "when does my fixed deal end||it ends on <date>",
            "what's my unit rate||it's <rate>p per kilowatt hour",
        ],
        "other": [
            "there's a strong smell of gas outside my house",
            "the workmen outside have blocked my drive",
            "I received a letter addressed to the previous occupant",
            "I want to know why you're digging up our road",
            "I'd like to register my mum as vulnerable",
        ],
        "amount": (25, 650),
        "value": (300, 2600),
        "cause_weights": {
            "refund": 5, "order_status": 3, "billing_error": 16, "order_change": 2, "reservation_change": 5,
            "new_purchase_or_booking": 4, "account_update": 8, "account_access": 3, "account_inquiry": 7,
            "technical_fault": 8, "cancellation": 5, "payment_issue": 8, "pricing_promo": 5, "card_service": 1.5,
            "fraud_security": 1.5, "product_or_policy_info": 5, "other": 3,
        },
    },
    "subscription_software": {
        "companies": ["Cloudnote", "Pixelforge", "Taskwise", "StreamBox", "Ledgerly"],
        "competitors": ["Notion-like tools", "Brightdesk", "Paperstack", "Flowbase"],
        "item": ["the annual licence", "the extra seats", "the Pro upgrade", "the storage add-on", "the team plan",
                 "the desktop licence"],
        "order_noun": ["order", "invoice", "licence"],
        "order_fmt": "INV-6",
        "booking": ["the onboarding session", "the training webinar on <weekday>", "the migration slot",
                    "my demo call with sales"],
        "new_thing": ["five more seats", "the enterprise plan", "the annual plan instead of monthly",
                      "the API add-on", "a licence for my new hire"],
        "faults": [
            ("sync keeps failing on my laptop", "sync's still failing"),
            ("the app crashes as soon as it starts", "it's still crashing"),
            ("exporting to PDF just hangs", "the export still hangs"),
            ("my files aren't showing up on the phone", "they're still not showing"),
            ("the video keeps buffering on the TV", "it's still buffering"),
            ("the integration with our calendar stopped working", "the integration's still broken"),
            ("everything's gone read-only", "it's still read-only"),
        ],
        "steps": [
            "signing out of all devices", "clearing the local cache folder", "turning off the VPN",
            "updating to the latest version", "disabling the browser extensions", "reconnecting the integration",
            "trying in an incognito window", "reinstalling the desktop app", "forcing a manual sync",
            "checking the storage quota", "logging in on the web version",
        ],
        "card": [],
        "addon": ["the storage add-on", "two of the seats", "the AI add-on", "the premium support", "the 4K add-on"],
        "closure": ["my subscription", "the whole account", "our team workspace", "my Pro plan"],
        "plan": ["the Pro plan", "the Team plan", "the Basic plan", "the Family plan"],
        "app": ["the desktop app", "the web app", "the phone app", "the TV app"],
        "verify": [
            ("the email on the account and the workspace name", "<email>, workspace is <workspace>"),
            ("the last four digits of the card on file", "it's <last4>"),
            ("your account email and the invoice number", "<email>, invoice <order_no>"),
        ],
        "teams": ["our engineering team", "tier two support", "the billing team", "the security team",
                  "the account management team"],
        "depts": ["billing", "technical support", "the accounts team", "sales"],
        "info": [
            "can I share my plan with my family||the Family plan covers up to six people",
            "is there a discount for charities||yes, registered charities get half price",
            "what happens to my files if I downgrade||they stay, but anything over the limit goes read-only",
            "does it work offline||yes, the desktop app works offline and syncs when you reconnect",
            "where is our data stored||in EU data centres by default",
        ],
        "inquiry": [
            "how many seats are we paying for||you've got <n_small> seats on the Team plan",
            "when's my next invoice||the next invoice is on <date> for <amount>",
            "what plan am I on||you're on <plan>, billed monthly",
            "how much storage have I got left||you've used about half of your quota",
        ],
        "other": [
            "I want to suggest a feature for the next release",
            "I think your latest email newsletter had a broken link",
            "I'm writing a review and wanted to ask a few questions",
            "can you send me your accessibility statement",
            "I want to complain about an advert I saw for your product",
        ],
        "amount": (5, 480),
        "value": (60, 6000),
        "cause_weights": {
            "refund": 7, "order_status": 1, "billing_error": 9, "order_change": 3, "reservation_change": 2,
            "new_purchase_or_booking": 5, "account_update": 5, "account_access": 10, "account_inquiry": 4,
            "technical_fault": 15, "cancellation": 10, "payment_issue": 6, "pricing_promo": 6, "card_service": 0,
            "fraud_security": 3, "product_or_policy_info": 7, "other": 3,
        },
    },
}

_INDUSTRY_WEIGHTS = (
    ("retail", 0.2),
    ("telecom", 0.19),
    ("travel_mobility", 0.16),
    ("banking", 0.16),
    ("utilities", 0.14),
    ("subscription_software", 0.15),
    ("food_and_drink", 0.16),
    ("insurance", 0.15),
    ("media_entertainment", 0.15),
)

_QUEUES = {
    "refund": "refunds", "order_status": "orders", "billing_error": "billing", "order_change": "orders",
    "reservation_change": "bookings", "new_purchase_or_booking": "sales", "account_update": "accounts",
    "account_access": "accounts", "account_inquiry": "general", "technical_fault": "tech-support",
    "cancellation": "retention", "payment_issue": "payments", "pricing_promo": "sales",
    "card_service": "cards", "fraud_security": "fraud", "product_or_policy_info": "general", "other": "general",
}
_SITES = ("leeds", "manila", "austin", "cape-town", "krakow", "glasgow", "bogota", "pune")


# ---------------------------------------------------------------------------------- cause packs
#
# Per cause: ``story`` (what happened, by industry, "_" = any industry), ``frame`` (how the customer opens,
# using <story>), ``summary`` (re-explaining after a transfer), ``detail``/``probe``/``answer`` (middle),
# ``check`` (neutral investigation), ``fix`` (agent succeeds; also used for claims that turn out false),
# ``confirm`` (customer sees it worked), ``still`` (customer contradicts), ``cannot`` (policy/limits),
# ``esc`` (why it goes to another team). Subkinds use "cause:sub" keys and fall back to the cause.

_GENERIC_DETAIL = [
    "{it's|this is} on {the|my} account {ending|number} <acct_tail>",
    "{I|I've} {noticed|spotted} it {on|last} <weekday>",
    "{it's been going on|it's been like this|this has been happening} for <ago_short>{ now|}",
    "{just so you know|for what it's worth}, <situation>",
]
_GENERIC_PROBE = [
    "{can you|could you} {tell me|give me} a bit more {detail|background} {on that|about what happened}?",
    "{when|roughly when} did {this|the problem} {start|first happen}?",
    "{and|ok and} {is|was} this {on|for} the {main account|account in your name}?",
    "{what|which} email {would|should} we {use|contact you on}{ if we need to|}?",
    "{is it|has it been} affecting {anyone else|other people in the house|just you}?",
    "{is it|has it been} {just the once|happening a lot}?",
]
_GENERIC_ANSWER = [
    "{well|so}{,|} <story>{, that's really it|, that's the gist|}",
    "{about|around|I think it was} <ago_short> ago{, maybe a bit longer|}",
    "{yes|yeah}{, it's|,} {in my name|the main one}",
    "{the|my} {email's|email is} <email>{ - that's the best one|}",
    "{just me|the whole house}{ as far as I know|, I think|}",
    "{just the once|a few times}{ I think|, as far as I know|}",
]
_C: dict[str, dict[str, Any]] = {
    "refund": {
        "story": {
            "_": ["I was promised a refund of <amount> <ago> and it never arrived", "I paid <amount> for something I never got"],
            "retail": ["I sent <item> back <ago>", "<item> arrived damaged so I returned it",
                       "I returned <item> to the <city> store <ago>", "half my order never turned up but I paid for all of it",
                       "<item> broke after a week and I sent it back"],
            "telecom": ["I returned the old router <ago> and was told I'd get my deposit back",
                        "I left within the cooling off period and you still took <amount>",
                        "I was promised a credit for the outage last month", "I sent the phone back within fourteen days"],
            "travel_mobility": ["they cancelled <item> on the day", "I cancelled <item> within the free cancellation period",
                                "I paid twice for <item>", "<item> was nothing like what I paid for"],
            "banking": ["a shop refunded me <ago> but it isn't showing on my account",
                        "you charged me a <small_amount> fee that was supposed to be refunded",
                        "I paid <amount> to a company that went bust and never delivered"],
            "utilities": ["I've been in credit by <amount> since I moved out", "I overpaid on my final bill",
                          "I was promised a goodwill payment after the outage"],
            "subscription_software": ["the annual renewal went through and I didn't want it",
                                      "I upgraded by mistake and got charged <amount>",
                                      "the app never worked on my computer",
                                      "I cancelled during the free trial and you still took <amount>"],
        },
        "frame": [
            "<story>{,| and| so} {I'd like|I want|can I get|I need} {a refund|my money back|the <amount> back}{ please|}",
            "{I'm|I am} {<contacting>|chasing|getting in touch} {about|regarding} a refund{. <story>| - <story>|, <story>}",
            "{so|basically|right so|ok so} <story>{,| and} {I was told|the email said|your website says} I'd {get|be given} {a refund|my money back}{ within five days| straight away|} {but nothing's come through|and nothing yet|and it still hasn't appeared}",
            "{I'm after|I'm looking for|I'm chasing} {a refund|my money}{. <story>|, <story>}",
            "<story>{. Where's my money?|. When do I get my money back?|. How do I get a refund?}",
        ],
        "summary": ["{I'm|I am} {waiting on|chasing} a refund{ for <item>| of <amount>|}", "I want my money back{ for <item>|}"],
        "detail": ["{it was|it came to|I paid} <amount>{ in total|}", "the {order|reference} {number |}is <order_no>",
                   "{I paid|it went} on my {debit card|credit card|PayPal}{ ending <last4>|}",
                   "{I've got|I still have} the {receipt|confirmation email|return label}", "{that was|this was} {back on|on} <date>"],
        "probe": ["{can I|could I} {take|get|have} the {order|booking|reference} number{ please|}?",
                  "{when|roughly when} did you {send it back|cancel|make the payment}?",
                  "{and|} how did you {pay|originally pay}{ for it|}?",
                  "{do you|did you} {get|keep} a {proof of postage|receipt|confirmation}?"],
        "answer": ["{it's|yeah it's} <order_no>", "{about|around|} <ago>{, on| -} <date>{ I think|}",
                   "{on|with} my {card|credit card|debit card}", "{yes|yeah}, I've got the {receipt|email|label} {here|somewhere}"],
        "check": ["{I can see|ok, I can see} the {return|cancellation|order} {on the system|here}{, it was logged on <date>|}",
                  "{let me|I'll just} {check|look at} the {refund|payment} {history|records}{ for you|}",
                  "{I'm just|just} {looking|checking} {whether|if} the {warehouse|team} {have|has} {processed|received} it",
                  "{so|ok so} the {system|account} shows {a credit pending|the return as received|a refund request from <date>}"],
        "fix": ["{ok, |right, |}{I've|I have} {processed|issued|put through|approved} {a|the} refund of <amount>{ back to your card| to the original payment method|}{, you should see it in| - allow} {three to five|five|a few} working days",
                "{good news|right}, {I've|I have} {pushed|forced} the refund through{ manually|}, <amount> {back|refunded} to {your card|the card ending <last4>}",
                "{that's|the refund's} {been|now} approved{, <amount>|}{ and it'll show in a few days| - it's on its way|}"],
        "confirm": ["{oh |}{great|brilliant|perfect|lovely}, {I can see it|it's showing|it's there} {pending|in my app} {now|already}",
                    "{ok|right}, {so|} three to five days{, fine|, that's fine|, I can live with that}{. And I've got the email|}",
                    "{ah|oh} {there it is|I've just had the notification}{, <amount> pending|}"],
        "still": ["{no|nope}, there's {still |}no refund {showing|on my account}",
                  "{I'm|I am} looking at my {account|banking app} {right now|now} and {there's nothing|nothing's there}",
                  "{it still says|the email still says} {refund pending|not processed}{ from <date>|}"],
        "cannot": ["{unfortunately|I'm afraid|sorry but} {it's|you're} outside the <days>-day {refund|return} window",
                   "{the|that} {fare|ticket|purchase} was {non-refundable|marked final sale}{ I'm afraid|}",
                   "we {can't|don't} refund {a partly used|part of a} {month|period}{, it's in the terms|}",
                   "{the system|it} won't let me {refund|issue a refund} {until|without} the {return|item} {is received|being scanned} at the warehouse"],
        "esc": ["{this needs|that'll need} {approval|sign off} from <team>", "{I'll have to|I need to} {raise this with|pass this to} <team>"],
    },
    "order_status": {
        "story": {
            "_": ["I ordered <item> <ago> and it still hasn't arrived", "the tracking hasn't moved since <weekday>",
                  "I was supposed to get <item> on <weekday> and nothing came"],
            "retail": ["the tracking says delivered but there's nothing here", "I ordered <item> <ago> and it still hasn't come",
                       "my parcel's been stuck at the depot for days", "the courier said they tried to deliver but I was in all day"],
            "telecom": ["I ordered <item> <ago> and it still hasn't arrived", "the SIM was meant to come on <weekday>",
                        "I'm still waiting on a date for the installation"],
            "travel_mobility": ["I booked <item> <ago> and never got a confirmation email",
                                "my e-tickets haven't arrived and I travel on <weekday>",
                                "the card I ordered for <item> hasn't turned up"],
            "banking": ["my new card was meant to arrive <ago> and it hasn't", "I applied for <new_thing> <ago> and haven't heard anything",
                        "the chequebook I ordered still hasn't come"],
            "utilities": ["I was told someone would fit <item> and I've heard nothing", "my application for <new_thing> has gone quiet",
                          "the new meter was meant to be installed <ago>"],
            "subscription_software": ["I paid for <item> and never got the licence key",
                                      "the invoice says paid but the upgrade hasn't kicked in",
                                      "my order's been stuck on processing since <weekday>"],
        },
        "frame": [
            "{I'm|I am} {<contacting>|chasing|checking} {about|on|up on} my <order_noun>{. <story>|, <story>| - <story>}",
            "<story>{. Where is it?|. Can you tell me what's going on?|, can you check?|, any idea when it'll turn up?}",
            "{where's|where is} my <order_noun>? <story>",
            "{hi|hello}, {just wondering|I wanted to know|can you tell me} what's happening with my <order_noun>{ - <story>|. <story>}",
        ],
        "summary": ["{I'm|I am} {waiting on|chasing} {my|an} <order_noun>{ that hasn't arrived|, it's late|}",
                    "my <order_noun> {hasn't turned up|is missing}"],
        "detail": ["{the order number's|it's order} <order_no>", "{it was|I was told it'd be} {due|meant to arrive} {on|by} <date>",
                   "{I paid|it cost} <amount>{ for next day delivery|, including delivery|}",
                   "{I've|I have} {checked|been checking} the tracking {every day|all week|twice today}"],
        "probe": ["{have you got|can I take} the <order_noun> number?", "{what does|what's} the tracking {say|showing} {on your end|at the moment}?",
                  "{and|} {which|what} {address|email} {was it going to|did you use}?"],
        "answer": ["{yep|yeah|sure}, <order_no>", "{it just says|it says} {in transit|out for delivery|processing} {since|from} <weekday>",
                   "{the|my} {home|work} address{, <house_no> <street>|}"],
        "check": ["{I can see|ok I can see} {it left|it was dispatched from} the {warehouse|depot} on <date>",
                  "{the|our} courier system {shows|has} {it at|a scan at} the {local|regional} depot",
                  "{let me|I'll} {pull up|check} the {tracking|courier} {details|notes}", "{so|hmm}, the last scan {was|is} <weekday> {afternoon|morning}"],
        "fix": ["{ok, |good news, |}it's {on the van|out for delivery} {today|now}{, it should be with you by <time>|, you'll get a text with a time slot|}",
                "{I've|I have} {sent out|dispatched} a replacement {on next day delivery|today}{, it'll be with you <weekday>|}{ at no charge|}",
                "{right|ok}, {it's been|it was} {delivered to|left with} your neighbour at number <house_no>{, I've got a photo here|}",
                "{I've|I have} {resent|re-sent} the {confirmation|licence key|tickets} to <email>{, it should be there now|}"],
        "confirm": ["{oh|ah}, {yes|yep}, {it's just come through|I've got it now|I can see it}",
                    "{great|ok brilliant}, {I'll|I'll just} {keep an eye out|look out for it} {then|today}{, and I've got the text|}",
                    "{oh|oh right}, number <house_no>{, I'll pop round|, I'll go and get it}{ now|}"],
        "still": ["{no|nope}, {nothing's|nothing has} {come through|arrived}", "{I've just|I just} {checked|looked} {and there's nothing|and it's not there}",
                  "{the tracking|it} still says {the same thing|in transit}"],
        "cannot": ["{I'm afraid|unfortunately} the courier {hasn't updated|isn't giving us any information}{ and I can't chase them until it's been five days|}",
                   "{we have to|I have to} wait {48 hours|five working days} before {we can|I can} {investigate|send a replacement}",
                   "{there's|there is} {nothing|no more} I can {see|do} {until the courier responds|on my end}"],
        "esc": ["{I'll|I need to} {open|raise} an investigation with <team>", "{this needs|this'll need} to go to <team> {to|who} {trace|chase} it{ with the courier|}"],
    },
    "billing_error": {
        "story": {
            "_": ["I've been charged twice for the same thing", "my bill is <amount> when it's normally <amount2>",
                  "there's a charge for <amount> that I don't understand"],
            "retail": ["I was charged twice for <item>", "I was charged for delivery even though I've got <plan>",
                       "I was charged <amount> but the price on the site was lower"],
            "telecom": ["my bill's gone up to <amount> and it's usually <amount2>", "I'm being charged for <addon> which I never asked for",
                        "I've been billed for roaming but I haven't left the country", "you're still charging me for a line I cancelled"],
            "travel_mobility": ["I was charged twice for <item>", "there's a charge on my card from you for <amount> I don't recognise",
                                "I was charged for a bag I didn't add"],
            "banking": ["I've been charged an overdraft fee I shouldn't have", "there's a monthly fee on my account that I never agreed to",
                        "I was charged interest even though I paid in full"],
            "utilities": ["my bill is based on an estimated reading and it's way too high",
                          "I've been billed <amount> for a month I wasn't even living there",
                          "my direct debit went up to <amount> without warning", "I'm being charged for gas but the house is all electric"],
            "subscription_software": ["I've been charged for <n_small> seats but we only use two", "I was billed for the annual plan instead of monthly",
                                      "I got charged after I downgraded", "my invoice has VAT on it even though we're registered"],
        },
        "frame": [
            "{I think|I'm pretty sure} {there's a mistake on my|you've got my} {bill|invoice|statement}{ wrong|}{. <story>|, <story>}",
            "<story>{, can you look into it|, can you sort that out|. That's not right|, which is wrong}",
            "{I'm|I am} {<contacting>|getting in touch} about {my bill|a charge|a billing problem}{. <story>| - <story>}",
            "{hi|hello}{, yeah|}, {so|} <story>{, what's going on?|?| and I'd like it corrected}",
        ],
        "summary": ["{my|the} bill is wrong{, I've been overcharged|}", "{I've been|I was} charged {wrongly|twice|too much}"],
        "detail": ["{it's|that's} on the {bill|statement|invoice} {dated|from} <date>",
                   "{the|that} {charge|amount} is <amount>{, which is way more than usual|}",
                   "{I've|I have} {checked|been through} {my|the} {statements|bank} and {it's there twice|it's definitely wrong}",
                   "{normally|usually} {I pay|it's} {about|around} <amount2>{ a month|}"],
        "probe": ["{which|what} {bill|invoice|statement} are we talking about?", "{can you|could you} {tell me|read me} the amount {it shows|you were charged}?",
                  "{have you|did you} {submitted|send us} a {meter reading|screenshot} {recently|}?", "{when|what date} did {the charge|that} {come out|appear}?"],
        "answer": ["{the one from|the latest one,} <date>", "{it's|it says} <amount>", "{no|yeah}, {I sent one|I gave one} {on|last} <weekday>",
                   "{it came out|it went} on <date>"],
        "check": ["{I'm just|ok, I'm} {going through|looking at} the {bill|charges|invoice} {line by line|now}",
                  "{I can see|so I can see} {two charges|a charge} {of|for} <amount> on <date>",
                  "{let me|I'll} {compare|check} {that against|it with} {your contract|the tariff|your plan}",
                  "{that|the} {charge|line} {looks like|is coded as} {an estimate|a one-off|a pro rata charge}"],
        "fix": ["{you're right|ok yes}{, that's our mistake|, that shouldn't be there}{. I've|, I've} {credited|refunded|reversed} <amount> {back to your account|on your next bill|to your card}",
                "{I've|I have} {re-billed|corrected the bill} {using|with} {the actual reading|the right plan}{, the new total's <amount2>|, it comes down to <amount2>}",
                "{I've|I have} {removed|taken off} the {charge|fee} and {refunded|credited} <amount>{, you'll see it on the next statement|}"],
        "confirm": ["{oh|ok}, {that's more like it|that's better|right, that makes sense}{, I can see it on the app|}",
                    "{great|brilliant}, {so|} it's <amount2> {now|then}{, perfect|}", "{ok|fine}, {I can see|I see} the credit{ on the app|} {now|already}"],
        "still": ["{but|no,} {the app still shows|it still says} <amount>", "{I'm|I've} {looking at|just refreshed} {the account|the bill} and {nothing's changed|it's the same}",
                  "{the|that} {charge|fee} is still there"],
        "cannot": ["{I'm afraid|unfortunately} {the charge is correct|that's correct} {under|according to} your {contract|terms|tariff}",
                   "{I'm not able to|I can't} {adjust|credit} {more than|anything over} <small_amount> {myself|on my own}",
                   "{the|that} {bill|reading} {has to stand|stands} {until we get an actual reading|unless you send a photo of the meter}"],
        "esc": ["{I'm going to|I'll} {raise|log} a billing dispute with <team>", "{a credit that size|this} {has to|needs to} {go to|be approved by} <team>"],
    },
    "order_change": {
        "story": {
            "_": ["I need to change the delivery address on my <order_noun>", "I want to add <item2> to my <order_noun>",
                  "I ordered the wrong size and want to swap it before it ships"],
            "retail": ["I need to change the delivery address on my order, I'm at work that day", "I want to add <item2> to the order I placed this morning",
                       "I ordered <item> in the wrong colour", "I want to change the delivery to click and collect"],
            "telecom": ["I ordered <item> and want to change it to the bigger storage", "I want to change the delivery address for <item>",
                        "I want to add a case to my phone order"],
            "travel_mobility": ["I want to add a bag to my <order_noun>", "I need to add my son to the <order_noun>", "I spelled my name wrong on the <order_noun>"],
            "banking": ["I need to change the address my new card is being sent to", "I want to change the amount on my loan application",
                        "I asked for the card in my maiden name by mistake"],
            "utilities": ["I need to change the address on my meter installation request", "I want to change the tariff I picked when I signed up yesterday"],
            "subscription_software": ["I need to change the number of seats on the order before it goes through", "I ordered monthly but meant annual",
                                      "I need the invoice in the company name not mine"],
        },
        "frame": [
            "{can I|could I|is it possible to} {make a change to|change|amend} my <order_noun>{? <story>|, <story>}",
            "<story>{, is that possible?|, can you help?|. Can you do that?|}",
            "{I'm|I am} <contacting> {to|because I need to} {change|amend} {my|the} <order_noun>{ - <story>|. <story>}",
        ],
        "summary": ["I need to {change|amend} my <order_noun>", "{it's|I'm <contacting>} about a change to my <order_noun>"],
        "fix": ["{no problem|done|ok}, {I've|I have} {updated|changed|amended} {the|your} <order_noun>{, you'll get a new confirmation email|, it's all updated|}",
                "{right|ok}, that's {changed|been changed} {over|} {and|,} {it's still due|the delivery date's the same}{ on <date>|}",
                "{I've|I have} {added|made} {that|the change}{, it came to an extra <small_amount>|, no extra charge|}"],
        "confirm": ["{great|perfect|lovely}{, thanks|}{, that's exactly what I needed|}", "{ok|cool}, {I've got|I can see} the {email|confirmation}{ already|}"],
        "still": ["{but|no,} {the order|it} still {shows|says} {the old address|the original one|processing}",
                  "{I've just|I just} {refreshed|checked} and {nothing's changed|it's the same}"],
        "cannot": ["{I'm afraid|unfortunately|sorry}, it's already {been dispatched|left the warehouse|been processed} so I can't {change|touch} it",
                   "{once|after} {it's|an order's} {been submitted|confirmed} {I can't|we can't} {edit|change} it{, you'd have to return it|}",
                   "{the system|it} {won't let me|is locking me out of} {changing|editing} {that order|it}"],
        "esc": ["{I'll|let me} {ask|get} <team> to {intercept|pull} the {parcel|order}", "{I'll|I'm going to} {send|pass} this to <team> {to|who can} {amend|stop} it"],
    },
    "order_change:cancel": {
        "story": {
            "_": ["I need to cancel my <order_noun> for <item>", "I placed an order by mistake and want to cancel it"],
            "retail": ["I want to cancel the order for <item>, I found it cheaper elsewhere", "I ordered <item> twice by accident, can you cancel one",
                       "I need to cancel my order, I don't need <item> any more"],
            "telecom": ["I want to cancel the order for <item> before it ships", "I ordered <item> by mistake"],
            "travel_mobility": ["I want to cancel the extra bag I added to the <order_noun>", "I want to cancel the order for <item> I placed this morning"],
            "banking": ["I want to cancel my request for <item>", "I don't need the chequebook any more, please cancel it"],
            "utilities": ["I want to cancel the request for <item>", "I don't need <item> after all"],
            "subscription_software": ["I want to cancel the order for <item> before it's charged", "I ordered <item> by mistake"],
        },
        "frame": [
            "{can I|I'd like to|I need to} cancel {an|my} order{? <story>|. <story>|}",
            "<story>{, can you cancel it?|. Can that be cancelled?|}",
            "{hi|hello}, {I just need to|I want to} cancel {the|an} order{, <story>|}",
        ],
        "summary": ["I want to cancel {an|my} order", "I need {an order|the order for <item>} cancelled"],
        "fix": ["{ok|right|done}, {I've|I have} cancelled {the|that} order{, you won't be charged| and the <amount> will go back to your card|}",
                "{that's|the order's} {cancelled|been cancelled}{, you'll get a cancellation email|}{ shortly|}"],
    },
    "reservation_change": {
        "story": {
            "_": ["I need to move <booking> to <new_date>", "something's come up and I need to change <booking>"],
            "travel_mobility": ["I need to move <booking> to <new_date>", "my meeting's been moved so I need to change <booking>",
                                "I want to change the date of <booking>, my mum's not well", "can I swap <booking> for a later time"],
            "retail": ["I need to rebook <booking>, I'm not in that day", "I want to move <booking> to the following week"],
            "telecom": ["I need to move <booking> to <new_date>", "I can't be in for <booking>, can we change it"],
            "banking": ["I need to rearrange <booking>", "I can't make <booking>, can we move it to <new_date>"],
            "utilities": ["I need to reschedule <booking>", "I won't be home for <booking>"],
            "subscription_software": ["I need to reschedule <booking>", "can we push <booking> back a week"],
        },
        "frame": [
            "{I'm|I am} <contacting> {to|because I want to} {change|rearrange|move} a {booking|reservation|appointment}{. <story>|, <story>}",
            "<story>{, is that possible?|. What are my options?|, can you help?}",
            "{quick one|hi}, <story>",
        ],
        "summary": ["I need to {change|move} {a booking|my booking|an appointment}", "{it's|I'm <contacting>} about changing <booking>"],
        "probe": ["{what|which} date {were you thinking|would work} instead?", "{can I|could I} {take|get} the {booking|reservation} reference?",
                  "{is it|is that} just {you|for you} or {the whole group|everyone on the booking}?"],
        "answer": ["<new_date> {ideally|if possible|would be best}", "{it's|yeah it's} <order_no>", "{just me|all of us}{, four people|}"],
        "check": ["{let me|I'll} {check|look at} {availability|what's available} {on|for} <new_date>",
                  "{I'm|I'm just} {looking at|checking} the {fare|booking} rules{ on your ticket|}",
                  "{ok|right}, {I've got|I can see} the booking{ here|, <order_no>|}"],
        "fix": ["{ok|right|all done}, {you're now|I've} {booked|moved you} {on|to} <new_date>{, no change fee|, there's a difference of <small_amount>|}",
                "{done|that's done}, <new_date> it is{, you'll get a new confirmation|}", "{I've|I have} {changed|rebooked} {it|that} for <new_date>{ at <time>|}"],
        "confirm": ["{great|perfect|brilliant}{, <new_date> works|, thanks|}", "{ok|lovely}, {got|I've got} the {new confirmation|email}{ already|}"],
        "still": ["{but|no,} the {app|email} still shows the {old date|original booking}", "{I've just|I just} {refreshed|checked} {and|,} it still says <weekday>"],
        "cannot": ["{there's no|we've got no} availability on <new_date>{, it's fully booked|}", "{the|your} {fare|ticket|rate} {doesn't allow|can't have} {changes|any changes}{ I'm afraid|}",
                   "{it's|you're} within 24 hours so {it can't be|I can't have it} {moved|changed} {any more|online}"],
        "esc": ["{I'll|let me} {ask|put a request in with} <team> to {see if they can|override} {it|the rules}", "{this needs|that would need} a {manager|supervisor|duty manager} to {approve|authorise} it"],
    },
    "reservation_change:cancel": {
        "story": {
            "_": ["I need to cancel <booking>", "I won't need <booking> any more, can you cancel it"],
            "travel_mobility": ["I need to cancel <booking>, the trip's off", "we've decided not to go, so I want to cancel <booking>"],
        },
        "frame": ["{I need to|I want to|can I} cancel a {booking|reservation|appointment}{. <story>|, <story>}", "<story>"],
        "summary": ["I want to cancel {a booking|<booking>}"],
        "fix": ["{ok|done}, {that's|the booking's} cancelled{ and the <amount> will be refunded| - no charge because it's more than 48 hours out|}",
                "{I've|I have} cancelled <booking>{, you'll get an email to confirm|}"],
        "cannot": ["{the|that} {booking|fare} {is non-refundable|can't be cancelled} {this close to the date|any more}{ I'm afraid|}",
                   "{you're|it's} {inside|within} the {cancellation|24 hour} window{ so I can't cancel it without a fee|}"],
    },
    "new_purchase_or_booking": {
        "story": {
            "_": ["I'd like to {get|buy|order|book} <new_thing>", "I'm interested in <new_thing>", "I want to sign up for <new_thing>"],
            "retail": ["I want to order <new_thing> but the website keeps timing out", "I'd like to buy <new_thing> over the phone"],
            "telecom": ["I want to upgrade to <new_thing>", "I'm after <new_thing>"],
            "travel_mobility": ["I want to book <new_thing>", "I'm looking to book <new_thing>"],
            "banking": ["I'd like to apply for <new_thing>", "I'm thinking of opening <new_thing>"],
            "utilities": ["I'm moving into a new place and need <new_thing>", "I want to switch to <new_thing>"],
            "subscription_software": ["we want to add <new_thing>", "I'd like to upgrade to <new_thing>"],
        },
        "frame": [
            "<story>{, can you help?|. How do I go about it?|, what's the price?|}",
            "{hi|hello}, {I was hoping to|I'd like to|I want to} {sort out|set up|arrange} {a new order|a booking|something new}{ - <story>|. <story>}",
            "{I'm thinking about|I've been thinking about} {getting|ordering|booking} something{. <story>|, <story>}",
        ],
        "summary": ["I want to {buy|order|book} <new_thing>", "{it's|I'm <contacting>} about {getting|ordering} <new_thing>"],
        "probe": ["{what|which} {date|option} {were you thinking|would you like}?", "{is that|would that be} {for you|just for you} or {someone else|the whole household}?",
                  "{how|and how} would you like to pay?"],
        "answer": ["{ideally|probably} <new_date>", "{just me|for me}{, yeah|}", "{on|with} {my card|the card on file|the card ending <last4>}"],
        "check": ["{let me|I'll} {check|see} {what's available|the options|the prices} for you", "{I'm just|just} {pulling up|looking at} {the prices|availability}{ now|}"],
        "fix": ["{that's|right, that's|ok, that's} {all set up|booked|ordered|done}{, your reference is <ref2>|, confirmation's on its way to <email>|}",
                "{I've|I have} {placed the order|made the booking|set that up} for you{, it comes to <amount>|, total is <amount>|}",
                "{you're|you are} {all booked|all signed up}{ for <new_date>|}{, you'll get an email in a minute|}"],
        "confirm": ["{brilliant|great|perfect}{, that was easy|, thanks|}", "{ok|lovely}, {got|I've got} the {email|confirmation}{ already|}"],
        "still": ["{but|no,} {nothing's come through|I haven't got anything} {on my email|in the app}", "{it|the site} still says {the order failed|no booking found}"],
        "cannot": ["{I'm afraid|unfortunately} {it's|that's} {out of stock|sold out|not available} {right now|at the moment}{ until <date>|}",
                   "{the system|it} {won't let me|isn't letting me} {complete|place} {the order|it}{ at the moment|}",
                   "{you'd|you would} {need to|have to} {pass a credit check|apply online|come into a branch} for that"],
        "esc": ["{I'll|let me} {pass|refer} this to <team> {to|who'll} {complete it|call you back}", "{that|this} {has to|needs to} {go through|be done by} <team>"],
    },
    "account_update": {
        "story": {
            "_": ["I've moved house and need to update my address", "I need to change my email address to <email2>",
                  "I've got a new phone number", "I got married and need to change my surname", "I need to update the card you take payments from",
                  "I want to change my direct debit date to the <day_ord>", "I want to add my partner to the account",
                  "I want to stop the marketing calls and letters"],
            "utilities": ["I'm moving out on <date> and need to give you a final reading and my new address"],
            "banking": ["I need to update my address before my new card is sent", "I want to add my wife as a joint account holder"],
        },
        "frame": ["{I need to|I want to|can I} update {some details|my details|my account}{. <story>|, <story>}",
                  "<story>{, can you do that?|, can you update it?|}", "{hi|hello}, {just a quick one|quick question}, <story>"],
        "summary": ["I need to update {my details|the account details}", "{it's|I'm <contacting>} about changing {my details|the details on the account}"],
        "fix": ["{done|ok, done|that's done}, {I've|I have} updated {that|it|your details}{ for you|}{, you'll get a confirmation email|}",
                "{all|right, all} {updated|changed}{ - it'll show in the app within the hour|}", "{that's|it's} {been|now} {changed|updated} on the {account|system}"],
        "confirm": ["{great|perfect|thanks}{, that was quick|, easy|}", "{yep|yes}, {I've got|I can see} the {email|text}{ confirming it|}"],
        "still": ["{but|no,} {the app|my profile} still shows {the old one|the old details}", "{I've|I just} {checked|logged in} and {nothing's changed|it's the same}"],
        "cannot": ["{I'm afraid|unfortunately} {I can't|we can't} change {that|the name} without {documents|a copy of the certificate|proof of address}",
                   "{for security|for security reasons} {I can't|we can't} {update|change} {that|the email} <here_channel>{, you'll have to do it in the app|}",
                   "{that|it} has to be done {in branch|in writing|by the account holder}"],
        "esc": ["{I'll|I need to} {send|pass} {this|it} to <team> {to|who} {check the documents|verify it}", "{a change like that|that} {goes to|needs} <team>"],
    },
    "account_access": {
        "story": {
            "_": ["I can't log in to my account", "I'm locked out after too many attempts", "the password reset email never arrives",
                  "I'm not getting the verification code", "it says my account's been suspended",
                  "I changed phones and now the two-factor thing won't work"],
        },
        "frame": ["{I can't|I cannot|I'm unable to} {get into|log into|access} my account{. <story>|, <story>|}",
                  "<story>{, can you help?|. What do I do?|. I've tried everything|}", "{hi|hello}, {I'm locked out|I've been locked out}{. <story>|, <story>}"],
        "summary": ["I can't {get into|log into} my account", "I'm locked out{ of <app>|}"],
        "detail": ["{I've|I have} {tried|reset} {the password|it} {three|four|about five} times", "{it says|the error says} {invalid credentials|account locked|something went wrong}",
                   "{the|my} email {on the account|I use} is <email>", "{I|I've} {changed|got a new} {phone|number} {last month|recently}"],
        "attempt": ["{can you|could you} try {logging in|requesting the code} {again|one more time} {for me|now}?",
                    "{let's|let me} try {sending|triggering} {the code|a reset} {again|once more}{ from my side|}"],
        "fix": ["{ok|right}, {I've|I have} {unlocked|reset} {your account|the account}{, try logging in now|, have another go now|}",
                "{I've|I have} sent {a new reset link|a one-time code|a reset link} to <email>{, it should be there now|}",
                "{I've|I have} {removed|cleared} the old {device|phone}{, so you can set up the code again|}"],
        "confirm": ["{yes|yep|ok}{!|,} {I'm in|it's worked|I'm logged in}{, finally|}", "{got it|it's come through}{, and|.} {I'm in now|that's worked}"],
        "still": ["{no|nope}, {it's still saying|still says} {locked|invalid|the same error}", "{nothing's|it hasn't} {come through|arrived}{, I've checked spam|}"],
        "cannot": ["{for security|I'm afraid for security reasons}, {I can't|we can't} {unlock|reset} {it|the account} {<here_channel>|without the security answers}",
                   "{you'll need to|you'd have to} {wait|leave it} {24 hours|a day} for the lock to {clear|expire}"],
        "esc": ["{I'll|let me} {raise|refer} {this|it} {with|to} <team>{ to verify you|}", "<team> {will need to|have to} {reset|restore} {it|access}"],
    },
    "account_inquiry": {
        "story": {"_": ["<qa_q>"]},
        "detail": ["{I|I've} {looked|had a look} in the app {but couldn't find it|and it wasn't clear|but it's confusing}",
                   "{I'm|I am} {just|} trying to {plan|sort out} {my budget|the month|a few things}",
                   "{the|your} letter {didn't say|wasn't clear}"],
        "probe": ["{is that|is this} for {your own account|the account in your name}?", "{have you|did you} {checked|check} the app{ at all|}?",
                  "{is there|was there} {a reason|anything} {you're asking|that prompted it}?"],
        "answer": ["{yes|yeah}{, just mine|, in my name}", "{yes|I tried} but {it wasn't clear|I couldn't find it}", "{just|} {planning ahead|curious really|sorting out my finances}"],
        "frame": ["{can you tell me|could you tell me|I want to know} <qa_q>?", "{quick question|just a quick one}{,| -} <qa_q>?",
                  "{hi|hello}{,|} {I'm trying to find out|I need to know} <qa_q>"],
        "summary": ["I {just|} {want|wanted} to know <qa_q>"],
        "fix": ["{so|ok so|right,} <qa_a>", "{let me see|I can see that}{ -|,} <qa_a>"],
        "confirm": ["{ah|oh} {ok|right}{, that's what I needed|, that answers it|, good to know}", "{great|perfect}{, thanks|}"],
        "still": ["{that|it} can't be right{, the app says something different|}", "{hmm|no}, {that's|that is} not what {the letter|my statement} says"],
        "cannot": ["{I'm afraid|unfortunately} I can't {see|access} {that|that information} from {here|my system}",
                   "{I can't|I'm not able to} {give|share} {that|those details} <here_channel>{ for security|}"],
        "esc": ["{I'll|I need to} {ask|get} <team> to {look into it|send you that}"],
    },
    "technical_fault": {
        "story": {"_": ["<fault>"]},
        "frame": ["{I'm having|I've got} {a problem|an issue|trouble} with <app>{. <fault>|, <fault>}",
                  "<fault>{ and I don't know what to do|, can you help?|. It's driving me mad|. It's been like this since <weekday>|}",
                  "{hi|hello}, <fault>{, I've tried turning it off and on|}",
                  "{so|right so|ok so} {basically|} <fault>{ and it's been like that <ago>|}"],
        "summary": ["<fault>", "{I've got|it's} a {fault|problem} with <app>"],
        "detail": ["{it's been|it started} {like this|happening} {since|on} <weekday>", "{I've|I have} already tried <step>",
                   "{it|the problem} {happens|gets worse} {mostly|especially} {in the evening|in the morning|when I'm on a video call}",
                   "{the|my} {account|number} is <acct_id>"],
        "fix": ["{ok|right}, {I've|I have} {reset|refreshed|re-provisioned|pushed a fix to} {the|your} {line|account|connection|settings} from {here|my end}{ - can you check now?|, have a look now|}",
                "{I've|I have} {found|spotted} {the issue|the problem}{, it was|: it was} {a setting on our side|a stuck update|an old profile on the account}{, I've fixed that|, that's cleared now}"],
        "confirm": ["{oh|ah}{,|} {yes|yep}{!|,} {it's working|that's working|it's back}{ now|}", "{ok|right}{, it's|, yeah it's} {loading|connected|back up}{, finally|, thank god|}",
                    "{that's|it's} {fixed it|done it|sorted it}{, brilliant|}"],
        "still": ["{no|nope}, <fault_short>", "{hmm|no}, {not really|nothing's changed}, <fault_short>", "{I've|I just} {checked|tried again}{ and|,} <fault_short>"],
        "cannot": ["{I'm|I am} not {seeing|able to find} any fault {on our side|from here}{, so it must be your equipment|}",
                   "{there's|there is} {nothing else|no more} I can {do|try} from {here|my end}",
                   "{that|this} {model|version} {isn't supported|is out of support} {any more|now}"],
        "esc": ["{I'll|I'm going to} {raise|log} a {fault|ticket} with <team>", "{this|that} {needs|will need} <team> to {look at|investigate} it"],
    },
    "cancellation": {
        "story": {"_": ["I want to cancel <closure>", "I'd like to close <closure>", "I want to end <closure>"]},
        "detail": ["{I've been|I've been with you} {<years> years|a while}{, to be fair|}", "{it's|the account's} in my name",
                   "{I've|I have} {thought about it|made up my mind}{ properly|}"],
        "probe": ["{can I ask|may I ask} {why|what's prompted this}?", "{is it|is that} {just|} <closure> or {everything|all your services}?",
                  "{when|from when} would you like it to end?"],
        "answer": ["<reason>", "{just|only} <closure>", "{as soon as possible|the end of the month}"],
        "frame": ["{I want to|I'd like to|I need to} {cancel|close} <closure>{, please|}{ - <reason>|. <reason>|}",
                  "{hi|hello}, {I'm|I am} <contacting> to cancel <closure>{. <reason>|}",
                  "{how do I|can I} {cancel|close} <closure>{? <reason>|?}"],
        "summary": ["I want to {cancel|close} <closure>"],
        "fix": ["{ok|right|understood}, {I've|I have} {processed|put through|booked in} the cancellation{, it'll end on <date>|, your final bill will come through in a few days|}",
                "{that's|your} {account|<closure>} {is now|has been} {closed|cancelled}{, effective <date>|}{, you'll get a confirmation email|}"],
        "confirm": ["{ok|fine|great}{, thanks|}{, that's what I wanted|}", "{right|good}, {that's|that was} {easier than I thought|what I wanted}"],
        "still": ["{but|no,} {I'm|I've} still {getting|been sent} {bills|emails}{ for it|}", "{it|the app} still {shows|says} {active|the account's open}"],
        "cannot": ["{you're|you are} still {in|within} your minimum term{, so there'd be a fee of <amount>|}{ and I can't waive it|}",
                   "{cancellations|closing an account} {have to be|has to be} done {in writing|by the account holder|in branch}",
                   "{I'm not able to|I can't} {process|do} {cancellations|that} <here_channel>{, you'll need to call the cancellations number|}"],
        "esc": ["{I'll|I'm going to} {put you through to|pass this to} <team>{ who handle cancellations|}", "<team> {will|have to} {process|complete} {that|it}"],
    },
    "cancellation:addon": {
        "story": {"_": ["I want to cancel <addon>", "I'd like to remove <addon> from my account", "can you take <addon> off, I don't use it"]},
        "frame": ["{I want to|I'd like to|I need to} {cancel|remove|get rid of} <addon>{ please|}{, I don't use it|, I never use it|, it's not worth it for me|}",
                  "{quick one|hi}{,| -} {can you|could you} {take|remove} <addon> {off|off my account}?",
                  "{I've just|I just} {noticed|realised} {I'm still paying for|I've still got} <addon>{, can you cancel it?|. Can that go?}"],
        "summary": ["I want to {cancel|remove} <addon>"],
        "fix": ["{done|ok done|right}, <addon> {is|has been} {removed|cancelled}{ from the next bill|, you won't be charged again|}",
                "{I've|I have} {taken off|removed|cancelled} <addon>{, effective today|}"],
        "cannot": ["<addon> {has|comes with} a minimum term {until|till} <date>{ I'm afraid|}", "{I can't|I'm not able to} {remove|cancel} <addon> {on its own|without changing the whole plan}"],
    },
    "payment_issue": {
        "story": {
            "_": ["my payment keeps getting declined", "my direct debit bounced and now I've got a late fee", "I tried to pay <amount> and it failed",
                  "the payment page just errors"],
            "banking": ["a transfer of <amount> to my landlord hasn't arrived", "my card was declined at the shop even though I've got money",
                        "I sent <amount> to the wrong account"],
            "utilities": ["my direct debit failed and you've sent a warning letter", "I want to set up a payment plan, I can't pay the full amount",
                          "I paid <amount> by card and it's not showing on the account"],
            "telecom": ["my card payment got declined and now my line's been barred", "the direct debit didn't go out and I got a text"],
            "retail": ["my card keeps getting declined at checkout", "the pay later option won't let me finish", "I paid but the order says payment failed"],
            "travel_mobility": ["the payment failed but money left my account", "my card was declined when I tried to book"],
            "subscription_software": ["my card got declined on renewal and the account's locked", "we can't pay the invoice by bank transfer"],
        },
        "frame": ["{I'm having|I've got} {trouble|a problem} {paying|with a payment}{. <story>|, <story>}", "<story>{, can you help?|. What's going on?|}", "{hi|hello}, <story>"],
        "summary": ["{I've got|there's} a problem with {a payment|my payment}", "{my|the} payment {failed|didn't go through}"],
        "fix": ["{ok|right}, {I've|I have} {taken|processed|retried} the payment of <amount>{ and it's gone through| - that's been accepted}",
                "{I've|I have} {updated the card and|} {re-run|re-tried} the {payment|direct debit}{, it's successful now|, that's gone through}{, and I've removed the late fee|}",
                "{I've|I have} set up {a payment plan|the plan} {at|of} <small_amount> a month{, starting <date>|}"],
        "confirm": ["{oh|ok}{,|} {good|great}{, I can see it|, it says paid now|}", "{that's|it's} {gone|gone through}{, thank you|, phew|}"],
        "still": ["{no|but}, {it's still|it still} {says|showing} {declined|failed|unpaid}", "{I've|I just} {checked|refreshed}{,| and} {nothing's|it's not} {changed|gone through}"],
        "cannot": ["{I'm afraid|unfortunately} {it's|the decline is} coming from your {bank|card issuer}{, you'll need to speak to them|}",
                   "{our|the} payment system is {down|having issues} {right now|today}{, can you try later?|}",
                   "{I can't|I'm not able to} {set up|agree} a plan {for|on} {that amount|an account in arrears}"],
        "esc": ["{I'll|I'm going to} {pass|refer} {this|it} to <team>{ to trace the payment|}", "<team> {will|need to} {investigate|look into} {it|where the money went}"],
    },
    "pricing_promo": {
        "story": {
            "_": ["my price has gone up from <old_price> to <price>", "the promo code <promo> isn't working",
                  "I saw an offer online for new customers and I want it too", "I was told I'd get a discount and it's not on my bill"],
            "retail": ["the discount code <promo> won't apply at checkout", "<item> went on sale the day after I bought it"],
            "telecom": ["my contract price went up again", "I saw your new customer deal for <price> a month"],
            "travel_mobility": ["the price of <item> jumped while I was booking", "my voucher code <promo> won't work"],
            "subscription_software": ["I was promised the early bird price of <price> and got charged <old_price>", "the student discount isn't showing"],
            "banking": ["I was told the savings rate would be <rate> percent", "the balance transfer offer wasn't applied"],
            "utilities": ["my tariff went up to <price> a month", "I want to know if there's a cheaper tariff"],
        },
        "frame": ["{I've got|I have} a question about {pricing|a discount|my price}{. <story>|, <story>}", "<story>{, what can you do?|. Can you help?|. Why?|}", "{hi|hello}, <story>"],
        "summary": ["{it's|I'm <contacting>} about {a discount|my price|a promo code}", "{my|the} price {is wrong|went up}"],
        "fix": ["{I've|I have} {applied|added} the {discount|code|offer} {for you|manually}{, the new price is <price>|, that takes off <small_amount>|}",
                "{ok|right}, {I can|I've} {move you|moved you} to <new_plan> at <price> a month{, same everything else|}",
                "{I've|I have} {price matched|refunded the difference} {for you|}{, <small_amount> back on your card|}"],
        "confirm": ["{that's|great, that's} {more like it|better|fair}", "{ok|perfect}{, I can see the new price|, thanks|}"],
        "still": ["{but|no}, {it's still|the checkout still} {showing|says} <old_price>", "{the code|it} {still|is still} {doesn't work|not working}{ on my end|}"],
        "cannot": ["{I'm afraid|unfortunately} {that offer|the code} {is only for new customers|has expired|doesn't apply to that}",
                   "{I can't|I'm not able to} {change|lower} the price {mid-contract|once it's been bought}",
                   "{that's|the increase is} {in line with|part of} the {annual price rise|terms you signed}"],
        "esc": ["{I'll|let me} {ask|put it to} <team> {to see|whether} {they can|} {honour|match} {it|the price}", "{a discount like that|that} {has to be|needs to be} approved by <team>"],
    },
    "card_service": {
        "story": {
            "_": ["I've lost <card>", "<card> has been declined everywhere", "<card> hasn't arrived", "<card> is damaged, the chip doesn't work",
                  "I think <card> got swallowed by a cash machine", "I need a new PIN for <card>", "I need to activate <card>"],
            "retail": ["the balance on <card> isn't showing", "I can't add <card> to the app"],
            "travel_mobility": ["<card> won't tap in at the barriers", "I need to move the balance from my old <card>"],
            "utilities": ["<card> won't top up at the shop", "<card> is cracked and won't go in the meter"],
        },
        "frame": ["{I'm|I am} <contacting> about <card>{. <story>|, <story>}", "<story>{, what do I do?|, can you help?|. I need it sorted|}", "{hi|hello}{,| -} <story>"],
        "summary": ["{it's|I'm <contacting>} about <card>", "{there's|I've got} a problem with <card>"],
        "fix": ["{ok|right}, {I've|I have} {cancelled the old one and ordered|ordered} a {new|replacement} {card|one}{, it'll be with you in three to five days|}",
                "{I've|I have} {unblocked|reactivated|activated} {the card|it}{, try it now|, it should work straight away|}",
                "{I've|I have} {sent|arranged} a {new PIN|PIN reminder}{ by post|, it's in the app now|}"],
        "confirm": ["{great|ok}{, thanks|, that's a relief|}", "{yep|yes}{, it's|, that's} {worked|working now}"],
        "still": ["{no|nope}, it's still {getting declined|not working|saying blocked}", "{it|the app} still {shows|says} {the card's|it's} {inactive|blocked}"],
        "cannot": ["{I'm afraid|unfortunately} {I can't|we can't} {speed up|express} the {delivery|new card}",
                   "{the|that} card {can't be|isn't able to be} {reactivated|unblocked} {once it's been reported lost|}{, it has to be replaced|}"],
        "esc": ["{I'll|let me} {refer|pass} {it|this} to <team>", "<team> {will need to|have to} {check|review} {it|the card}"],
    },
    "fraud_security": {
        "story": {
            "_": ["there's a payment of <amount> I don't recognise", "I got a text pretending to be you and I clicked the link",
                  "someone's logged into my account from another country", "I think someone's using my details"],
            "banking": ["there are three payments to <merchant> I didn't make", "I gave my details to someone who said they were from your fraud team",
                        "someone's set up a new payee on my account"],
            "telecom": ["my phone suddenly lost signal and I think my SIM's been swapped", "someone ordered a phone in my name"],
            "retail": ["someone placed an order on my account", "my account email was changed without me doing it"],
            "travel_mobility": ["someone booked trips with my points", "there's a booking on my account I didn't make"],
            "utilities": ["someone called saying they were from you and asked for my card number", "someone's opened an account at my address in my name"],
            "subscription_software": ["I got an email saying my password was changed and it wasn't me", "there's a login from a device I don't own"],
        },
        "frame": ["{I think|I'm worried} {I've been|I may have been} {scammed|hacked|a victim of fraud}{. <story>|, <story>}",
                  "<story>{. What do I do?|, can you help?|. I'm really worried|}", "{hi|hello}{, I need to report something|}{. <story>|, <story>}"],
        "summary": ["I think {I've been|my account's been} {hacked|scammed}", "{there's|I've got} {a payment|activity} I don't recognise"],
        "fix": ["{ok|right}, {I've|I have} {blocked|frozen} {the card|the account|access} {and|,} {refunded|credited} the <amount>{ while we look into it|}",
                "{I've|I have} {logged out|signed out} all devices{,| and} {reset your password|removed the payee}{ - you're secure now|}",
                "{I've|I have} {cancelled|stopped} {the order|the booking|the transaction}{ and the account's locked down|}"],
        "confirm": ["{ok|right}, {thank god|that's a relief}{, I can see it's blocked|}", "{ok|great}{, thank you|, I feel better now|}"],
        "still": ["{but|no}, {I can still see|there's still} {the payment|it} {on the app|pending}", "{it|the account} still {shows|has} {the new device|the payee}"],
        "cannot": ["{I'm afraid|unfortunately}, {the|those} {payments|payment} {were|was} {authorised with your details|made with your PIN}{ so we can't refund it|}",
                   "{I can't|I'm not able to} {discuss|look into} {that|fraud} <here_channel>"],
        "esc": ["{I'll|I'm going to} {refer|pass} {this|it} to <team>{, they'll investigate|}", "{a case like this|this} {goes to|has to go to} <team>"],
    },
    "product_or_policy_info": {
        "story": {"_": ["<qa_q>"]},
        "detail": ["{I'm|we're} {thinking of|planning on} {ordering|booking|signing up|going ahead} {soon|next week|in the summer}",
                   "{I|I've} {looked|had a look} on the website {but couldn't find it|and it wasn't clear}",
                   "{a friend|my partner} {asked me|wanted to know} and I wasn't sure"],
        "probe": ["{is that|is this} for {you|yourself} or {someone else|a family member}?", "{have you|did you} {looked|look} at the {website|FAQ}?",
                  "{when|roughly when} {are you thinking of|would you be} {doing it|going ahead}?"],
        "answer": ["{for me|for my mum}{, really|}", "{yes|I tried} but {it wasn't clear|I couldn't find it}", "{soon|in the next few weeks|not sure yet}"],
        "frame": ["{I've got|just} a {quick |}question{ -|,} <qa_q>?", "{can you tell me|I wanted to ask|I'm trying to find out} <qa_q>",
                  "{hi|hello}{,|} <qa_q>?", "{before I|I'm thinking of} {ordering|booking|signing up}{,|} {can you tell me|I need to know} <qa_q>"],
        "summary": ["I {just|} {want|wanted} to know <qa_q>"],
        "fix": ["{so|ok so|yes,|right,|} <qa_a>", "{good question|sure}{,| -} <qa_a>"],
        "confirm": ["{ah|oh} {ok|right}{, that's what I needed|, that answers it|, good to know|}", "{perfect|brilliant|great}{, thanks|}",
                    "{makes sense|ok, makes sense}{, thanks|}"],
        "still": ["{that's|that is} not what {the website|your website|your colleague} says", "{hmm|but} {that doesn't|that doesn't really} answer {my question|it}"],
        "cannot": ["{I'm afraid|sorry} I {don't have|can't find} that information{ here|}", "{I'm not|I am not} {sure|able to say}{, the policy's being updated|}"],
        "esc": ["{I'll|I need to} {check|ask} with <team> and {get back to you|have them email you}"],
    },
    "other": {
        "story": {"_": ["<other>"]},
        "detail": ["{it|this} {happened|was} {on|last} <weekday>", "{I|I've} {wanted to|been meaning to} {mention|raise} it for a while"],
        "frame": ["<story>", "{hi|hello}{,|} <story>", "{it's|this is} {a bit of an odd one|not really a normal query}{, but|.} <story>"],
        "summary": ["<other>"],
        "fix": ["{I'll pass that on|I've logged that|I've put that through} {to the right team|for you|}{ and|,} {it's all recorded|you'll get a letter confirming|}",
                "{I've|I have} {sorted that|dealt with that|arranged that}{ for you|}{, you'll have it by <weekday>|}"],
        "confirm": ["{great|thanks|lovely}{, that's all|}", "{ok|right}{, that's what I was after|}"],
        "still": ["{that|it}'s not {really|} what I asked", "{but|no,} {that|it} {happened again|still hasn't} {been done|}"],
        "cannot": ["{I'm afraid|sorry} {there's not much I can do|that's not something we handle}"],
        "esc": ["{I'll|let me} {pass|refer} this to <team>"],
    },
}

# long-call material per cause: (agent, customer) exchanges that move an investigation along without deciding
# anything; <any_amount>, <any_date>, <any_merchant> draw a fresh value on every use
_CAUSE_LONG: dict[str, list[tuple[str, str]]] = {
    "refund": [("{there's|I can see} {an order|a payment} {on|from} <any_date> for <any_amount>{, is that the one?|, was that part of it?}", "{yes|no}{, that's| that's not} {the one|it}{, it's the other one|}"),
               ("{the|your} refund {request|case} {shows|is showing} as {pending|approved|awaiting the warehouse}", "{so|but} {why|how come} {haven't I got it|isn't it in my account}?"),
               ("{did you|have you} {get|got} {an email|a confirmation} {when you sent it back|from the courier}?", "{I think so|yes}, {let me check|it says it was delivered to you on <any_date>}")],
    "order_status": [("{the|your} <order_noun> {shows as|was marked as} {sent|dispatched|processed} on <any_date>", "{ok|right}{, and since then?|, so where is it?}"),
                     ("{the system|my screen} says {it went out|the email went out|it was issued} {on|around} <any_date>", "{well|but} I {never got it|haven't had anything}{, I've checked spam|}"),
                     ("{is|was} the {email address|address} on the <order_noun> {right|correct}{, <email>|}?", "{yes|yeah}{, that's right|, that's me}"),
                     ("{it's|it was} {with|handed to} {the courier|our partner|the supplier} on <any_date>", "{and|so} {what's happened to it|where is it now}?")],
    "billing_error": [("{in|for} <month>{ you|,} {were charged|it was} <any_amount>{, and| -} the month before {it was|} <any_amount>", "{exactly|right}{, so why the jump?|}"),
                      ("{I can see|there's} {an estimated|an actual} reading {on|from} <any_date>", "{I never|I didn't} {gave|give} {a reading|one} then"),
                      ("{were you|was the account} on {paper|paperless} billing {at the time|back then|in <month>}?", "{paperless|paper}{, I think|, I'm pretty sure|}")],
    "order_change": [("{the|your} order {has|contains} <item> and <item2>{, is that right?|}", "{yes|yeah}{, that's it|}"),
                     ("{which|what} {address|option} {do you want|should we use} {instead|now}?", "{<house_no> <street>|the one at work}{ please|}")],
    "reservation_change": [("{what about|how about|I've got} <any_date>{ at <time>|}?", "{no|hmm}, {that's no good|I can't do that one}{, anything later?|}"),
                           ("{there's|I can see} {a seat|availability|a slot} on <any_date>{ but it's <any_amount> more|}", "{that's|hmm, that's} {a lot|too much|ok I suppose}"),
                           ("{is it|would it be} the same {time|route|room} you want?", "{yes|ideally}{, same as before|}")],
    "new_purchase_or_booking": [("{there's|we've got} {the standard|the basic} {option|version} at <any_amount>{, or| and} {the|a} {bigger|premium} one at <any_amount>", "{what's the difference?|which would you recommend?}"),
                                ("{the|that} {premium|bigger} one {includes|comes with} {extra cover|more data|free delivery|priority support}", "{ok|hmm}{, let me think|}"),
                                ("{do you want|would you like} {it|that} {from|starting} <any_date>?", "{yes|that works}{, the sooner the better|}")],
    "account_update": [("{so|ok} the new one is <email2>{, yes?|?}", "{yes|yep}{, all lower case|}"),
                       ("{do you want|should I} {update|change} {it|that} on {all the accounts|the joint account too}?", "{yes please|just this one}"),
                       ("{and|also}, {how|when} would you like us to contact you{ in future|}?", "{email|text}{ is best|}")],
    "account_access": [("{what's|can you tell me} {your memorable word|the answer to your security question}{, just the first and third letters|}?", "{um|hang on}, {I think it's|it's} <chars>"),
                       ("{when|roughly when} did you last {log in|manage to get in}?", "{it was|probably} <any_date>"),
                       ("{are you|is the app} on the latest version?", "{I think so|no idea}{, how do I check?|}")],
    "cancellation": [("{can I ask|may I ask} {why|what's made you want to} {leave|cancel}?", "<reason>"),
                     ("{are you|were you} aware {of|about} {the final bill|the notice period|any exit fees}?", "{no|yes}{, what are they?|, I know}"),
                     ("{if|when} you cancel, you'd lose {your discount|the loyalty points|access to <addon>}", "{that's fine|I know}")],
    "payment_issue": [("{the|your} payment {on|from} <any_date> {for|of} <any_amount> {shows|is showing} as {declined|pending|returned}", "{that's|yes that's} the one"),
                      ("{did your bank say anything|has your bank sent you a text|did you get a text from your bank}{ about it|}?", "{no|yes}, {nothing|they said it went through|they said it was blocked}{ as far as I know|}"),
                      ("{which|what} card {did you use|was it}?", "{the one ending <last4>|my debit card}")],
    "pricing_promo": [("{the|that} {offer|code} {is valid|was valid} {until|from} <any_date>", "{I|but I} {used it|tried it} {before then|on the day}"),
                      ("{your|the} current price is <old_price>{ and|,} the offer price {is|would be} <price>", "{right|exactly}{, that's what I want|}")],
    "card_service": [("{when|where} did you {last use|last have} the card?", "{at|in} {the supermarket|a cash machine in <city>|the petrol station} on <any_date>"),
                     ("{I can see|there's} a {transaction|payment} {at|to} <any_merchant> {for|of} <any_amount>{, was that you?|}", "{yes|yeah} that was me"),
                     ("{do you want|would you like} the {new card|replacement} {sent|posted} to {the address on file|<house_no> <street>}?", "{yes please|that's fine}")],
    "fraud_security": [("{there's|I can see} a {payment|transaction} {to|at} <any_merchant> {for|of} <any_amount> on <any_date>{, was that you?|. Do you recognise it?}", "{yes|no|I don't think so}{, that's|, that's not} {me|mine}{, hang on|}"),
                       ("{have you|did you} {shared|give} {any codes|your PIN|your password} {with|to} anyone?", "{no|not that I know of|only the man on the phone}"),
                       ("{I'm going to|I need to} go through a few {security|fraud} questions{, bear with me|}", "{ok|fine}")],
    "technical_fault": [("{how many|which} devices {are|have} {affected|the problem}?", "{all of them|just my laptop|the phone and the TV}{ I think|}"),
                        ("{does it|is it} {happen|happening} {at a particular time|all day}?", "{mostly|usually} {in the evening|first thing|when everyone's home}")],
    "other": [("{can you|could you} tell me {a bit more|more} about {that|what happened}?", "<story>{, that's about it|}"),
              ("{when|what day} was {this|that}?", "<any_date>{ I think|}")],
}
_CAUSE_EXPLAIN: dict[str, list[str]] = {
    "refund": ["{the way refunds work is|just to explain}, {once|when} the {return|cancellation} is {processed|scanned}, the money goes back to {the original card|your card} and {your bank|the bank} can take {three to five|up to seven} working days to show it"],
    "order_status": ["{what normally happens is|usually} the courier {updates|scans} it at every depot, so {a gap|no update} for {a day or two|a few days} {isn't unusual|can happen}, {especially|particularly} {around holidays|when it's busy}"],
    "billing_error": ["{so|just so you understand}, {when|if} we don't get a reading we {estimate|base it} on {last year's usage|your history}, and {that|the estimate} can {overshoot|come out high} {in winter|if things changed}"],
    "technical_fault": ["{what I'm|I'm} {seeing|looking at} {here|on my side} is {the line stats|the connection logs|the device history}{, and|.} {there are|I can see} {a few drops|some errors|gaps} {over the last few days|since <weekday>}{, which fits what you're saying|}"],
    "account_access": ["{for security|because of security}, {after|once there are} {a few|three} failed attempts the account {locks|gets locked} {automatically|for a while}{, that's to protect you|}"],
    "fraud_security": ["{what we do in cases like this is|the process is}, we {secure|lock down} the account first, {then|and then} {look at each payment|go through the transactions} {one by one|with you}"],
    "reservation_change": ["{the|your} {fare|ticket|booking} {type|class} {decides|determines} {what|whether} {we can change|changes are free}{, so let me check which one you've got|}"],
    "cancellation": ["{when you cancel|if you close it}, {there's|you'd get} a final bill {for|covering} {anything outstanding|the notice period}{, and then that's it|}"],
    "payment_issue": ["{payments|card payments} {can|sometimes} {fail|get declined} {if|when} the bank {flags|blocks} them{, even when there's money in the account|}"],
    "_": ["{just so you know|for context}, {there are|we've got} {a few|several} {steps|checks} {I have to|we need to} go through{ before anything changes|}{, so bear with me|}",
          "{what I'm going to do is|my plan is to} {check|look at} {a couple of things|the history} {first|before anything else}{, then we'll take it from there|}"],
}
_ANY_MERCHANTS = ["an online electronics shop", "a gaming site", "a taxi firm", "a clothing website", "a supermarket",
                  "a streaming service", "a petrol station", "a coffee shop", "a hotel abroad", "an app store"]
_CANCEL_REASONS = [
    "it's too expensive now", "I don't use it any more", "I'm moving abroad", "the service has been terrible",
    "money's tight at the moment", "we're combining everything with my partner's account", "I just don't need it",
]

# causes whose "fix" is an answer (info) rather than an action
# ------------------------------------------------------------------------------ opt-in industries
#
# EXTRA_INDUSTRIES: the same shape as ``_IND``'s entries, and their own story for the causes where the generic
# "_" story would not fit (a claim, not a parcel; a table, not a delivery slot). Other acts (probes, checks,
# fixes) stay shared across industries, as for the original six. Slot order: ``other`` uses only basic
# slots, ``item`` never uses <item>, ``new_thing`` may use <item2>.

_EXTRA_IND: dict[str, dict[str, Any]] = {
    "food_and_drink": {
        "companies": ["Dish Dash", "Forkful", "Crumb & Co", "Marigold Kitchen", "Hatch & Ladle"],
        "competitors": ["Grubly", "Slice Street", "Bean Counter Coffee", "Pronto Eats", "the place round the corner"],
        "item": [
            "two large pepperoni pizzas", "a chicken burrito bowl", "the family meal deal", "a flat white and a croissant",
            "a large doner kebab with chips", "the sushi platter", "three cheeseburger meals",
            "a chicken tikka masala and two naans", "the Sunday roast for four", "a vegan wrap and a smoothie",
            "a box of twelve doughnuts", "the lunch meal deal", "a Thai green curry with rice", "two iced lattes",
            "the wings bucket", "a salmon poke bowl", "a Margherita and garlic bread", "the breakfast box",
            "a katsu curry and gyoza", "the kids' meals for the three of them",
        ],
        "order_noun": ["order", "delivery", "takeaway"],
        "order_fmt": "#D6",
        "booking": [
            "my table for <n_small> on <weekday>", "the table booking at the <city> branch",
            "my reservation for <time> on <weekday>", "the birthday booking on <weekday>",
            "my click and collect slot for <time>", "the catering order for <weekday>",
        ],
        "new_thing": [
            "two large pepperoni pizzas", "a chicken burrito bowl", "a flat white and a croissant", "the family meal deal",
            "a catering platter for the office on <weekday>", "a birthday cake to collect on <weekday>",
            "the Delivery Pass", "<item2>", "a coffee subscription for my partner", "lunch for twelve people",
        ],
        "faults": [
            ("the app won't load my basket", "the basket still won't load"),
            ("the payment page just freezes when I try to pay", "it's still freezing on the payment page"),
            ("the app keeps saying the restaurant is closed when it's open", "it still says closed"),
            ("my voucher code gives an error at checkout", "the code's still erroring"),
            ("the app won't let me pick a delivery time", "it still won't let me pick a time"),
            ("the app logs me out every time I go to pay", "it's still logging me out"),
            ("the app won't accept my card details", "it still won't take the card"),
        ],
        "steps": [
            "closing the app fully and opening it again", "updating the app", "logging out and back in",
            "clearing the app cache", "switching from wifi to mobile data", "ordering on the website instead",
            "removing the voucher and adding it again",
        ],
        "card": ["my loyalty card", "the gift card I was given", "my coffee stamp card", "the e-gift card"],
        "addon": [
            "the Delivery Pass", "the monthly coffee subscription", "the priority delivery add-on",
            "the weekly meal kit box", "the student discount membership",
        ],
        "closure": ["my account", "my Delivery Pass", "the coffee subscription", "my rewards account",
                    "the meal kit subscription"],
        "plan": ["the Delivery Pass", "the Coffee Club subscription", "the Plus membership", "the weekly meal kit plan"],
        "app": ["the app", "the website", "the payment page", "the ordering kiosk", "the table ordering page"],
        "verify": [
            ("the email on your account and the order number", "<email>, and the order's <order_no>"),
            ("your name and the phone number you ordered with", "<cust_full>, the number ends <phone_tail>"),
            ("the delivery postcode and the name on the order", "<postcode>, name's <cust_full>"),
        ],
        "teams": ["the store manager", "the delivery partner team", "our customer relations team", "a team leader",
                  "the food safety team", "the complaints team"],
        "depts": ["the restaurant directly", "the delivery team", "the rewards team", "payments", "customer care"],
        "info": [
            "do you have a list of allergens for the menu||yes, every dish has the full allergen list in the app, and the staff can show you the allergen folder in store",
            "is the chicken halal||in most of our branches, yes, the app shows which ones on the store page",
            "do you deliver to my postcode||yes, you're inside the delivery area, the minimum order is <small_amount>",
            "what time does the <city> branch close tonight||it's open until eleven on weeknights and midnight at the weekend",
            "are the fries cooked in the same oil as the chicken||they are, so they're not suitable if you've got a severe allergy",
            "do you do gluten-free pizza bases||yes, on the medium size, but they're made in a kitchen that uses flour",
            "can I book a table for a big group||yes, for groups over ten we just take a small deposit when you book",
        ],
        "inquiry": [
            "how many points have I got||you've got <points> points, that's enough for a free main",
            "how many stamps are on my coffee card||you've got <n_small> stamps, the free drink comes at ten",
            "when does my Delivery Pass renew||it renews on <date> at <price> a month",
            "what was the total on my last order||it came to <amount>, including the delivery fee",
            "have the points from my last order gone on yet||yes, they were added on <weekday>",
        ],
        "other": [
            "I wanted to say the staff at the <city> branch were lovely on <weekday>",
            "one of your delivery riders was really rude to me",
            "the rider left his bike blocking my drive",
            "I need a VAT receipt for a work lunch",
            "I'd like to give some feedback about the new menu",
            "I'd like to know if the <city> branch is hiring",
        ],
        "amount": (6, 150),
        "value": (30, 900),
        "cause_weights": {
            "refund": 14, "order_status": 14, "billing_error": 4, "order_change": 6, "reservation_change": 5,
            "new_purchase_or_booking": 14, "account_update": 3, "account_access": 3, "account_inquiry": 5,
            "technical_fault": 5, "cancellation": 3, "payment_issue": 5, "pricing_promo": 7, "card_service": 2,
            "fraud_security": 1.5, "product_or_policy_info": 8, "other": 4,
        },
    },
    "insurance": {
        "companies": ["Aegis Direct", "Lighthouse Insurance", "Keystone Mutual", "Bramble Insure", "Northstar Cover"],
        "competitors": ["ShieldWise", "Beacon Direct", "Harbour Mutual", "Pennant Insurance", "the comparison sites"],
        "item": [
            "my car insurance", "the home insurance", "my travel insurance", "the pet policy for our dog",
            "the contents cover", "the annual multi-trip policy", "my breakdown cover",
            "the buildings insurance", "the insurance on the van", "my son's car insurance", "the cat's pet insurance",
        ],
        "order_noun": ["claim", "claim", "policy"],  # claims dominate what is chased (order_status)
        "order_fmt": "REF8",
        "booking": [
            "the assessor visit on <weekday>", "the loss adjuster's appointment", "the appointment at the repair garage",
            "my call back with the claims handler", "the surveyor visit for the subsidence claim",
            "the windscreen repair on <weekday>",
        ],
        "new_thing": [
            "car insurance for my new car", "a travel policy for my trip to <city>", "pet insurance for our new puppy",
            "home insurance for the house we're buying", "life cover now we've got a mortgage",
            "an annual multi-trip travel policy", "contents insurance for my flat", "breakdown cover",
            "a black box policy for my son", "cover for my new van",
        ],
        "faults": [
            ("the online portal won't let me upload my claim photos", "the photos still won't upload"),
            ("the app won't load my policy documents", "the documents still won't load"),
            ("the quote page crashes before it gives me a price", "it's still crashing"),
            ("the black box in my car has stopped sending data", "it's still not sending anything"),
            ("the renewal link in your email just gives an error page", "the link's still erroring"),
            ("the claim form times out when I press submit", "it still times out"),
        ],
        "steps": [
            "logging out of the portal and back in", "trying a different browser", "restarting my phone",
            "clearing the browser cookies", "updating the app", "trying in an incognito window",
            "resetting my password",
        ],
        "card": [],
        "addon": [
            "the breakdown cover", "the legal expenses cover", "the accidental damage cover", "the courtesy car add-on",
            "the gadget cover", "the winter sports extra",
        ],
        "closure": ["my car insurance", "the home policy", "my pet insurance", "my travel policy", "my life cover",
                    "my policy"],
        "plan": ["the comprehensive car policy", "the Gold home cover", "the annual multi-trip policy",
                 "the lifetime pet cover", "the third party, fire and theft policy"],
        "app": ["the app", "the online portal", "the claims website", "the quote page"],
        "verify": [
            ("your policy number and date of birth", "<order_no>, and I was born <dob>"),
            ("your full name, date of birth and postcode", "<cust_full>, <dob>, <postcode>"),
            ("your email address and the first line of your address", "<email>, <house_no> <street>"),
        ],
        "teams": ["the claims team", "the underwriting team", "our claims investigation team", "a team leader",
                  "the complaints team", "the renewals team"],
        "depts": ["claims", "new business", "renewals", "the motor team", "the home claims team"],
        "info": [
            "does your travel cover include skiing||only if you add the winter sports extra, it's <small_amount> a trip",
            "does the pet insurance cover pre-existing conditions||no, anything the vet noted before the policy started isn't covered",
            "can I get car insurance if I've only just passed my test||yes, new drivers can get a quote online, and a black box policy is usually cheaper",
            "is accidental damage included in the home cover||it's an optional extra on both buildings and contents",
            "how long does a claim usually take||most straightforward claims are settled within <days> days",
            "do you offer a no claims discount||yes, up to nine years, and you can protect it for a bit extra",
            "does the life cover pay out for critical illness||only if you take the critical illness option, it's not in the basic policy",
        ],
        "inquiry": [
            "what's my excess on the car policy||it's {two hundred and fifty|three hundred and fifty|five hundred} in total, compulsory and voluntary together",
            "when's my home insurance up for renewal||it renews on <date>, you'll get the renewal letter about three weeks before",
            "do I get a courtesy car if I claim||yes, you've got a courtesy car while yours is in one of our approved garages",
            "is my partner a named driver on my policy||no, you're the only named driver at the moment",
            "how much am I paying each month||it's <price> a month by direct debit",
        ],
        "other": [
            "I want to complain about how the garage treated me during the repair",
            "I need a letter confirming my no claims discount for another insurer",
            "my late father had a life policy with you and I don't know where to start",
            "I'd like to thank the claims handler who helped me last month",
            "I got a letter from you and I don't understand what it's asking for",
        ],
        "amount": (30, 2500),
        "value": (150, 4000),
        "cause_weights": {
            "refund": 5, "order_status": 13, "billing_error": 7, "order_change": 3, "reservation_change": 4,
            "new_purchase_or_booking": 10, "account_update": 9, "account_access": 3, "account_inquiry": 10,
            "technical_fault": 3, "cancellation": 8, "payment_issue": 6, "pricing_promo": 7, "card_service": 0,
            "fraud_security": 2, "product_or_policy_info": 9, "other": 3,
        },
    },
    "media_entertainment": {
        "companies": ["Vista Entertainment", "Pulse Media", "Castlegate Entertainment", "Orbit Media Group", "Premiere Plus"],
        "competitors": ["StreamHub", "Vireo TV", "NetStream", "Gigstub", "the independent cinema in town"],
        "item": [
            "the new TV box", "the sports package", "two tickets for the <time> showing", "the concert tickets",
            "the movies add-on", "the new router", "the 4K box", "the pay-per-view boxing", "the box office film I rented",
            "the cinema membership", "the multiroom box", "the family tickets for the panto",
            "the tickets for the comedy show on <weekday>", "the streaming stick",
        ],
        "order_noun": ["order", "booking", "installation"],
        "order_fmt": "MB-7",
        "booking": [
            "the engineer install on <weekday>", "my tickets for <weekday>'s show", "the satellite dish installation",
            "the seats for the <time> screening on <weekday>", "my tickets for the gig in <city>",
            "the box upgrade visit",
        ],
        "new_thing": [
            "the sports package", "two tickets for <weekday>'s show", "a new cable and internet bundle",
            "the movies add-on", "a TV and broadband bundle for my new flat", "the Unlimited cinema membership",
            "four tickets for the concert in <city>", "the 4K box upgrade", "the premium streaming plan",
            "the kids' pack",
        ],
        "faults": [
            ("the streaming keeps buffering every few minutes", "it's still buffering"),
            ("the set-top box says no signal", "it still says no signal"),
            ("the app won't let me log in, it just says error", "the login's still failing"),
            ("the picture keeps freezing on the sports channels", "it's still freezing"),
            ("all the recordings have disappeared from the box", "the recordings are still gone"),
            ("the e-tickets won't load in the app", "the tickets still won't load"),
            ("the box keeps restarting itself", "it's still restarting"),
        ],
        "steps": [
            "turning the box off at the wall for thirty seconds", "checking the cable at the back of the box",
            "restarting the router", "signing out of the app and back in", "running the signal test in the settings menu",
            "resetting the box to factory settings", "reinstalling the app",
        ],
        "card": ["the viewing card in my box", "the cinema gift card", "my Unlimited membership card"],
        "addon": ["the sports add-on", "the kids' pack", "the HD upgrade", "the multiroom box", "the movies bundle",
                  "the ad-free upgrade"],
        "closure": ["my TV package", "my subscription", "the streaming subscription", "my cinema membership",
                    "the whole bundle", "the broadband and TV"],
        "plan": ["the Entertainment bundle", "the Sports and Movies package", "the Unlimited cinema membership",
                 "the TV and broadband bundle", "the basic streaming plan"],
        "app": ["the app", "the set-top box", "the TV app", "the website", "the smart TV app"],
        "verify": [
            ("your account number and the security PIN", "<acct_id>, and the PIN is <pin>"),
            ("the email on the account and your postcode", "<email>, <postcode>"),
            ("the booking reference and the last four digits of the card you paid with", "<order_no>, card ending <last4>"),
        ],
        "teams": ["the technical team", "our field engineers", "the box office team", "the billing team", "retentions",
                  "a team leader"],
        "depts": ["technical support", "the box office", "billing", "the installations team", "loyalty"],
        "info": [
            "what channels come with the sports package||all the main sports channels plus the two box office ones",
            "can I watch on my phone as well as the TV||yes, you can stream on up to <n_small> devices at once",
            "is the new horror film OK for a twelve year old||no, it's rated fifteen, so they'd need to be fifteen or over",
            "does the box work with a 4K TV||yes, the new box does 4K, you just need the HD upgrade on your account",
            "do you do student tickets at the <city> cinema||yes, students get a discount Sunday to Thursday with a valid card",
            "is there wheelchair access at the <city> venue||yes, there are accessible seats in every screen and you can book them online",
            "can I record one thing and watch another||yes, the box can record two channels while you watch a third",
        ],
        "inquiry": [
            "when does my contract end||your minimum term ends on <date>",
            "what package am I on||you're on <plan> at <price> a month",
            "how many free tickets have I got left this month||you've got <n_small> left until the end of the month",
            "is the multiroom still on my account||yes, it's still there at <small_amount> a month",
            "has the price rise gone through on my bill yet||yes, it went up on <date>",
        ],
        "other": [
            "the engineer left cables all over my front garden",
            "I want to complain about how loud the adverts are",
            "I'd like to thank the staff at the <city> cinema",
            "I left my coat in screen <n_small> on <weekday>",
            "I want to give some feedback about the sound at the concert on <weekday>",
            "I got a letter about a TV licence and I don't know if it's from you",
        ],
        "amount": (10, 400),
        "value": (60, 2500),
        "cause_weights": {
            "refund": 6, "order_status": 5, "billing_error": 9, "order_change": 3, "reservation_change": 6,
            "new_purchase_or_booking": 10, "account_update": 4, "account_access": 5, "account_inquiry": 5,
            "technical_fault": 14, "cancellation": 9, "payment_issue": 5, "pricing_promo": 7, "card_service": 1.5,
            "fraud_security": 2, "product_or_policy_info": 7, "other": 3,
        },
    },
}


_EXTRA_STORIES: dict[str, dict[str, list[str]]] = {
    "new_purchase_or_booking": {
        "food_and_drink": [
            "I'd like to order <new_thing> {for delivery|for collection|to pick up at <time>}",
            "I want to book a table for <n_small> on <weekday> {night|evening|at <time>}",
            "I want to put in an order for <new_thing>{ to my work address|}",
        ],
        "insurance": [
            "I need <new_thing>",
            "I'm looking for a quote for <new_thing>",
            "I want to take out <new_thing>{, my old one runs out soon|}",
        ],
        "media_entertainment": [
            "I'm looking to get <new_thing>",
            "I'd like to sort out <new_thing>",
            "I'm interested in <new_thing>{, my friend's got it|}",
        ],
    },
    "order_status": {
        "food_and_drink": [
            "I ordered <item> {over an hour ago|an hour and a half ago|at <time>} and it still hasn't come",
            "the app's said my driver is five minutes away for the last forty minutes",
            "my order says delivered but nothing's turned up{ and I've checked with the neighbours|}",
        ],
        "insurance": [
            "I made a claim on <item> <ago> and haven't heard anything since",
            "I put in a claim for {the water damage in the kitchen|my stolen bike|the dog's vet bills|the damage to my car} <ago> and it's gone quiet",
            "the garage says they're still waiting on your approval before they can start the repair",
        ],
        "media_entertainment": [
            "I ordered <item> <ago> and it still hasn't arrived",
            "I was told someone would call to book the install and I've heard nothing",
            "I bought tickets for the show on <weekday> and never got a confirmation email",
        ],
    },
    "order_change": {
        "food_and_drink": [
            "I want to add <item2> to the order I just placed",
            "I put the wrong address on my order, it needs to go to my work",
            "I need to change something on my order, I forgot my son's allergic to nuts",
        ],
        "insurance": [
            "I want to change the start date on my new policy",
            "I put the wrong annual mileage on my application",
            "I need to change the cover level on the policy I took out yesterday",
        ],
        "media_entertainment": [
            "I ordered the standard box but I want the 4K one instead",
            "I need to change the delivery address for the new box",
            "I want to add the sports package to the bundle I ordered yesterday",
        ],
    },
    "reservation_change": {
        "food_and_drink": [
            "I need to move <booking> to <new_date>",
            "I need to change the time on <booking>",
            "can I push <booking> back an hour{, we're running late|}",
        ],
        "insurance": [
            "I need to rearrange <booking>, I'm working that day",
            "I can't be in for <booking>, can we move it to <new_date>",
        ],
        "media_entertainment": [
            "I need to move <booking> to <new_date>",
            "I can't make <booking> any more, can we change it",
            "something's come up and I need to swap <booking> to another day",
        ],
    },
    "refund": {
        "food_and_drink": [
            "half my order was missing{ - no drinks and no sides| and I paid for all of it|}",
            "<item> turned up stone cold{ and soggy|}",
            "I got someone else's order, I'd ordered <item>",
        ],
        "insurance": [
            "I cancelled my policy within the cooling off period and haven't had my money back",
            "I sold my car <ago> and I'm owed money back on the policy",
            "I was told I'd get back the <amount> I overpaid on my premium",
        ],
        "media_entertainment": [
            "the concert on <weekday> was cancelled and I haven't had my money back",
            "the film stopped halfway through and the manager said I'd get a refund",
            "I cancelled <addon> but you still took another month",
        ],
    },
    "account_inquiry": {
        "food_and_drink": [
            "I had a question about my account - <qa_q>",
            "<qa_q>? I couldn't see it anywhere in the app",
        ],
        "insurance": [
            "I was going through my policy documents and couldn't work it out - <qa_q>",
            "I wanted to check something on my own policy: <qa_q>",
        ],
        "media_entertainment": [
            "I had a question about my account - <qa_q>",
            "<qa_q>? I had a look in the app and it's not clear",
        ],
    },
    "product_or_policy_info": {
        "food_and_drink": [
            "I'm thinking of ordering{ for a group|} and wanted to check something first: <qa_q>",
            "<qa_q>? I couldn't find it on the website",
        ],
        "insurance": [
            "I'm shopping around for cover and wanted to ask: <qa_q>",
            "<qa_q>? the website wasn't clear",
        ],
        "media_entertainment": [
            "before I go ahead I wanted to check: <qa_q>",
            "<qa_q>? I couldn't find it on the website",
        ],
    },
    "technical_fault": {
        "food_and_drink": [
            "I was trying to order {lunch|dinner|tea} and <fault>",
            "since the last app update, <fault>",
            "<fault>, and I've got a voucher that runs out today",
        ],
        "insurance": [
            "<fault>{, and I've been trying for days|}",
            "since <weekday>, <fault>",
            "<fault>, and I've already tried <step>",
        ],
        "media_entertainment": [
            "ever since <weekday>, <fault>",
            "<fault>, and I've already tried <step>",
            "<fault> and it's driving everyone in the house mad",
        ],
    },
    "cancellation": {
        "food_and_drink": [
            "I want to cancel <closure>, I'm not ordering enough to make it worth it",
            "I'd like to close <closure>{, I've deleted the app|}",
            "I want to end <closure> before it renews",
        ],
        "insurance": [
            "I want to cancel <closure>, I've found a cheaper quote",
            "I'd like to cancel <closure> before it renews",
            "I need to cancel <closure>, I don't need it any more",
        ],
        "media_entertainment": [
            "I want to cancel <closure>, we hardly watch it",
            "I'd like to end <closure> when the contract's up",
            "I want to cancel <closure>, it's just got too expensive",
        ],
    },
    "billing_error": {
        "food_and_drink": [
            "I was charged twice for <item>",
            "I was charged for delivery even though I've got <plan>",
            "I was charged <amount> but the total in the app was <amount2>",
        ],
        "insurance": [
            "I've been charged twice for my premium this month",
            "my direct debit went up to <price> and nobody told me why",
            "you're still taking payments for a policy I cancelled",
        ],
        "media_entertainment": [
            "I'm being charged for <addon> which I never ordered",
            "my bill's gone up to <amount> and it's usually <amount2>",
            "I was charged twice for the tickets I bought for <weekday>",
        ],
    },
    "account_update": {
        "food_and_drink": [
            "I need to change the delivery address on my account",
            "I want to update the card saved in the app",
        ],
        "insurance": [
            "I want to add my partner as a named driver",
            "I'm moving house and need to change the address on my home policy",
            "I've changed my car and need to update the policy",
        ],
        "media_entertainment": [
            "I'm moving house and want to take my TV package with me",
            "I need to change the email on my account to <email2>",
        ],
    },
    "pricing_promo": {
        "food_and_drink": [
            "the discount code <promo> won't work at checkout",
            "the app offer said half price pizzas but I was charged full price",
        ],
        "insurance": [
            "my renewal quote has gone up to <price> a month and I haven't even claimed",
            "I saw a cheaper price for new customers on your website",
        ],
        "media_entertainment": [
            "my package price has gone up to <price> a month without any warning",
            "I saw the new customer deal for <price> a month and I want it too",
        ],
    },
    "payment_issue": {
        "food_and_drink": [
            "my card keeps getting declined when I try to pay in the app",
            "the payment failed but the money's gone from my account",
        ],
        "insurance": [
            "my direct debit bounced and now you're saying my policy will be cancelled",
            "I tried to pay my premium online and it failed",
        ],
        "media_entertainment": [
            "my card got declined and now the channels have been cut off",
            "the payment for my tickets failed but I've still been charged",
        ],
    },
    "fraud_security": {
        "food_and_drink": [
            "someone's used my account to order food to an address I don't know",
            "all my points have been spent and it wasn't me",
        ],
        "insurance": [
            "I got a letter about a claim on my policy that I never made",
            "someone's taken out a policy in my name",
        ],
        "media_entertainment": [
            "someone's been buying box office films on my account",
            "there's a login on my account from a device I don't own",
        ],
    },
    "card_service": {
        "food_and_drink": [
            "the balance on <card> isn't showing",
            "I've lost <card> and it had loads of stamps on it",
        ],
        "media_entertainment": [
            "the box keeps saying insert viewing card but it's in there",
            "<card> has stopped working{ since <weekday>|}",
        ],
    },
}

# Subkind packs (picked 35% of order_change and 25% of reservation_change contacts); merge into
# ``_C[key]["story"]`` the same way as _EXTRA_STORIES.
_EXTRA_SUB_STORIES: dict[str, dict[str, list[str]]] = {
    "order_change:cancel": {
        "food_and_drink": [
            "I need to cancel my order for <item>, it's taking far too long",
            "I ordered <item> by mistake, can you cancel it before they start making it",
        ],
        "insurance": [
            "I want to withdraw my application for <item>",
            "I applied for <item> twice by accident, can you cancel one",
        ],
        "media_entertainment": [
            "I want to cancel my order for <item>, I've changed my mind",
            "I want to cancel the installation, I've changed my mind",
        ],
    },
    "reservation_change:cancel": {
        "food_and_drink": [
            "I need to cancel <booking>, half the group's dropped out",
            "we won't make <booking> any more, can you cancel it",
        ],
        "insurance": [
            "I need to cancel <booking>, I've decided to withdraw the claim",
            "I don't need <booking> any more, the repair's been sorted privately",
        ],
        "media_entertainment": [
            "I need to cancel <booking>, I can't go any more",
            "I want to cancel <booking>, we've decided to stay with our old provider",
        ],
    },
}

_IND.update(_EXTRA_IND)
for _key, _by_industry in {**_EXTRA_STORIES, **_EXTRA_SUB_STORIES}.items():
    _C[_key]["story"].update(_by_industry)
assert set(_IND) == set(ALL_INDUSTRIES) and {k for k, _ in _INDUSTRY_WEIGHTS} == set(ALL_INDUSTRIES)

# Cross-industry wording of the opening request (``SynthConfig.wide_requests``): the plain verbs people use in
# any industry ("purchase", "sign up for", "need a new ...", "proof of ...") around the industry's own nouns,
# so that what decides the cause is the act asked for, not a noun the generator happens to tie to one cause.
# Only main packs (not subkinds such as order_change:cancel); cancellation is left out so churn keeps its own
# wording.
_WIDE_REQUESTS: dict[str, list[str]] = {
    "new_purchase_or_booking": [
        "I want to purchase <new_thing>", "I need to purchase <new_thing>", "I want to buy <new_thing>",
        "I need <new_thing>", "I want a new service with you, <new_thing>", "can I get <new_thing>",
        "I'd like to sign up for <new_thing>", "how do I sign up for <new_thing>", "I want to start a new service",
        "please set me up with <new_thing>", "I'd like to place an order for <new_thing>",
        "I'm a new customer and I want <new_thing>", "I want to open a new account and get <new_thing>",
        "I'd like to reserve <new_thing>", "I want to take out <new_thing>", "I need a new connection at my new address",
        "I'd like to add <new_thing> to my account", "can you help me get <new_thing>",
    ],
    "product_or_policy_info": [
        "what does <new_thing> include", "can you tell me more about <new_thing> before I decide",
        "is <new_thing> available where I live", "what are the terms for <new_thing>", "<qa_q>",
        "I have a question about <new_thing>, how does it work", "what's your policy on <item>",
    ],
    "account_inquiry": [
        "I need proof of my {account|policy|plan} for {my landlord|my employer|the bank}",
        "can you send me a copy of my {contract|policy documents|statement|agreement}",
        "I need a letter confirming {my account|my cover|my details}", "what's on my account at the moment",
        "can you confirm {when my plan renews|what plan I'm on|my account number}", "<qa_q>",
    ],
    "order_status": [
        "I want to check the status of my <order_noun>", "what's happening with my <order_noun>",
        "can you track my <order_noun> for me", "any update on my <order_noun>", "has my <order_noun> been processed yet",
    ],
    "order_change": [
        "I need to change my <order_noun>", "can I add something to my <order_noun>",
        "I want to swap <item> on my <order_noun> for something else", "can you update the address on my <order_noun>",
    ],
    "reservation_change": [
        "I need to change <booking>", "can I move <booking> to another day", "I want to change my {seat|appointment|reservation|slot}",
        "can you reschedule <booking> for me",
    ],
    "refund": [
        "I want my money back for <item>", "I'd like a refund please", "can I get a refund on <item>",
        "I'm owed <amount> and want it refunded",
    ],
    "billing_error": [
        "there's a wrong charge on my {bill|statement|account}", "I've been charged twice", "my bill is wrong, it says <amount>",
        "you've overcharged me by <amount>",
    ],
    "payment_issue": [
        "my payment didn't go through", "I can't pay my bill online", "my card keeps getting declined when I pay you",
        "I tried to pay <amount> and it failed",
    ],
    "account_update": [
        "I need to update my {address|phone number|email address|details}", "I've moved and need to change my address",
        "can you change the name on my account", "I want to update my contact details",
    ],
    "account_access": [
        "I can't log in", "I'm locked out of my account", "I forgot my password and can't get in",
        "my login isn't working", "I can't get into the app",
    ],
    "technical_fault": [
        "<fault>", "my {device|phone|service|app|connection} isn't working", "something's broken, <fault>",
        "it stopped working, <fault>", "I need help fixing a problem, <fault>",
    ],
    "card_service": [
        "I lost my card", "I need a replacement card", "my card is damaged", "<card> has stopped working",
    ],
    "fraud_security": [
        "there's a charge I don't recognise", "I think my account's been hacked", "someone's used my details without permission",
    ],
    "pricing_promo": [
        "is there a discount on <new_thing>", "do you have any offers at the moment", "can I get a better price on my plan",
    ],
}
assert set(_WIDE_REQUESTS) <= set(CAUSES) and "cancellation" not in _WIDE_REQUESTS

_INFO_CAUSES = ("account_inquiry", "product_or_policy_info")
# causes that plausibly make a 30-minute call
_LONG_CAUSES = ("technical_fault", "billing_error", "fraud_security", "account_access", "refund", "payment_issue",
                "cancellation", "reservation_change", "order_status", "card_service")
_GENERAL_TEAMS = ("a team leader", "a supervisor", "a senior manager", "a duty manager", "the complaints team",
                  "our customer relations team", "the customer relations team", "the specialist support team")
_CAUSE_TEAMS: dict[str, list[str]] = {
    "refund": ["the refunds team", "the returns team", "the claims team"],
    "order_status": ["the courier liaison team", "the warehouse team", "the dispatch team"],
    "billing_error": ["the billing team", "the billing investigations team", "the billing disputes team"],
    "order_change": ["the warehouse team", "the orders team"],
    "reservation_change": ["the bookings team", "ground operations", "the reservations team"],
    "new_purchase_or_booking": ["the sales team", "the lending team", "the new accounts team"],
    "account_update": ["the account changes team", "the back office", "the documents team"],
    "account_access": ["the security team", "the digital support team"],
    "account_inquiry": ["the accounts team", "the back office"],
    "technical_fault": [],
    "cancellation": ["retentions", "the closures team", "the cancellations team"],
    "payment_issue": ["the payments team", "the collections team"],
    "pricing_promo": ["the pricing team", "retentions", "the offers team"],
    "card_service": ["the card services team", "the cards team"],
    "fraud_security": ["the fraud team", "the security team", "our disputes team"],
    "product_or_policy_info": ["the product team", "the policy team"],
    "other": ["the complaints team", "the customer relations team"],
}
_TECH_LIKE = ("technical_fault", "account_access")


def _pack(cause: str, sub: str) -> dict[str, Any]:
    return _C.get(f"{cause}:{sub}", _C[cause])


def _pool(cause: str, sub: str, key: str, default: Sequence[str] | None = None) -> Sequence[str]:
    """The pool for a dialogue act: subkind first, then the cause, then the default."""
    for k in (f"{cause}:{sub}", cause):
        p = _C.get(k)
        if p and key in p:
            return p[key]
    if default is None:
        raise KeyError(f"no pool {key!r} for cause {cause!r}")
    return default


# ------------------------------------------------------------------------------ dialogue-act pools

_GREET_AGENT_VOICE = [
    "{thank you for calling|thanks for calling|you've reached} <company>{,| customer care,| support,} {my name is|this is|you're speaking with} <agent>{, how can I help you today|, how can I help|, what can I do for you today|, how may I help}?",
    "{hi|hello|good morning|good afternoon}, <company> {customer services|support|accounts}, <agent> speaking{, how can I help|| - how can I help you}?",
    "{hello|hi}{ there|}, {you're through to|welcome to} <company>, {I'm|my name's} <agent>{. Who am I speaking with?|. How can I help?|, what's the reason for your call today?}",
]
_GREET_AGENT_CHAT = [
    "Hi{ there|}, you're chatting with <agent> from <company>{.|!} How can I help{ today|}?",
    "Hello{ <cust_first>|}, thanks for contacting <company>, my name's <agent>. What can I do for you?",
    "Hi! <agent> here{ from the <company> team|}. {How can I help?|What can I help with today?}",
    "{Good morning|Good afternoon|Hello}{, <cust_first>|}! I'm <agent>{, I'll be looking after you today|}. {How can I help?|What's up?}",
]
_GREET_BOT_CHAT = [
    "Hi! I'm <bot>, <company>'s virtual assistant. {How can I help today?|What can I help you with?|Tell me in a few words what you need.}",
    "{Hello|Hi there}{ 👋|}! I'm <bot>{, a digital assistant|}. {What can I help you with today?|Ask me anything about your account.}",
    "Welcome to <company> support. I'm <bot>, {an automated assistant|a virtual agent}. {How can I help?|What brings you here today?}",
]
_GREET_BOT_VOICE = [
    "Welcome to <company>. {I'm the virtual assistant.|I'm <bot>, your virtual assistant.|} {In a few words, tell me why you're calling.|How can I help?|Please tell me what you're calling about.}",
    "Thanks for calling <company>. {This call may be recorded.|Calls are recorded for training.} {I'm <bot>.|} {Briefly, what's the reason for your call?|How can I help today?}",
]
_CUST_HELLO = [
    "{hi|hello|hiya|oh hi|yeah hi|morning}{, <agent>|}{, thanks|}",
    "{hi|hello}{ there|}, {it's|this is} <cust_first>{ <cust_last>|}",
    "{yeah hi|hello}{, sorry|}{, is that <company>?|}",
]
_EMPATHY = [
    "{I'm sorry to hear that|sorry about that|oh no|I'm sorry you've had that}{, let's see what I can do|, let me have a look|, I'll take a look|, let's get that looked at|}",
    "{ok|right|sure}{, I can help with that|, I can look into that for you|, no problem|}",
    "{thanks for explaining|thanks for that}{, <cust_first>|}{, let me take a look|}",
    "{I understand|I completely understand}{, that's frustrating|, that's not what you want|}{. Let's have a look|}",
    "{of course|absolutely}{, let me pull that up|, leave it with me|}",
]
_VERIFY_ASK = [
    "{before I|so I can} {look into that|pull up your account|go any further}, {can I|could I} {take|grab|get} <verify_ask>{ please|}?",
    "{first of all|just to start}, {can I|could I} {confirm|take} <verify_ask>?",
    "{I'll just need|I just need} <verify_ask> {to find you|so I can find the account}{ please|}",
]
_VERIFY_ANSWER = ["{sure|yeah|ok|yep}{,| -} <verify_answer>", "<verify_answer>", "{hang on|one sec}{, let me find it|}{ -|,} <verify_answer>"]
_VERIFY_OK = [
    "{thanks|thank you|lovely|great|perfect}{, that's you verified|, you're through security|, got you|, I've found the account|}",
    "{ok|right}{,|} {that's all matched up|that matches}{, thank you|}",
]
_VERIFY_ASK_BOT = ["{To get started|First}, please {<bot_enter>|tell me} <verify_ask>.", "I'll need to verify you. Please <bot_enter> <verify_ask>."]
_VERIFY_OK_BOT = ["Thanks, you're verified.", "Thank you. I've found your account.", "Great, I've got your details."]
_SKIP_VERIFY = [
    "{you're already verified|I can see you're already verified} {through the app|from when you logged in}{, so we can skip the questions|}",
    "{no need to go through security|we can skip security}{, you came through the logged-in chat|}",
]
_CHECK_GENERIC = [
    "{let me|I'll just} {have a look|take a look|check} {at the account|at that|on the system}{ for you|}",
    "{ok|right}, {I'm just|just} {pulling up|bringing up} {the account|your details|the history}",
    "{bear with me|one moment}{, it's loading|, just reading through the notes|}",
    "{I'm|I am} {just|} {reading through|going through} {the notes|what's on the account|the history}{ here|}",
]
_CUST_FILLER = ["{ok|mhm|sure|right|yep|yeah}", "{ok|alright}{, no rush|, take your time|}", "{yeah|sure}{, go ahead|, no problem|}",
                "{ok|right}{, thanks|}", "{mm|mhm}{, ok|}"]

# --- effort events
_QUEUE_NOTE_VOICE = ["[caller waited <qmin> min in queue]", "[queue wait: <qmin> minutes]", "[IVR and queue: <qmin> min]"]
_QUEUE_NOTE_CHAT = ["[waited <qmin> min in chat queue]", "[queue position 1 - waited <qmin> minutes]"]
_QUEUE_COMPLAINT = [
    "{I've been waiting|I've been on hold|I was in the queue|I've been hanging on} {for|} {<qmin> minutes|nearly <qmin> minutes|ages} {just to get through|to speak to someone|to get a person}",
    "{finally|at last}{,|} {<qmin> minutes|that's <qmin> minutes} {in the queue|on hold}{, that's ridiculous|, not impressed|}",
]
_HOLD_ASK = [
    "{can I|do you mind if I|I'm just going to} {put you on a quick hold|pop you on hold|place you on hold} {while I|so I can} {check this|look into this|speak to a colleague|check with my team leader}?",
    "{I need to|let me} {check something|speak to someone} {- can you|, can you} {hold|hold the line} {for a moment|for a couple of minutes}?",
]
_HOLD_ASK_CHAT = [
    "{Could you give me|Bear with me for} {a few minutes|a couple of minutes|a moment} while I {look into this|check with the team|check the system}{ please|}?",
    "{I'm just going to|Let me} {check this with a colleague|look into this further}{, I'll be back shortly|, back in a few minutes}.",
]
_HOLD_OK = ["{sure|yeah|ok|fine}{, go ahead|, no problem|}", "{ok|right}{, I'll hold|, I'm not going anywhere|}", "{yep|mhm}"]
_HOLD_NOTE = ["[on hold <hold_mss>]", "[hold music <hold_mss>]", "[caller on hold - <hold_mss>]"]
_HOLD_BACK = [
    "{thanks for holding|thank you for waiting|sorry about the wait|are you still there}{, <cust_first>|}{?|.}",
    "{hi|hello}, {thanks for holding|sorry that took a while}{, I've|. I've} {got an answer|spoken to my colleague|had a look}",
]
_HOLD_LONG_COMPLAINT = ["{yeah|still here}{, that was|, bit of} {a long wait|ages|a while}", "{finally|at last}{,|} {I thought you'd forgotten me|I nearly hung up}",
                        "{that was|that's} {like|nearly} <hold_min> minutes{ on hold|}"]
_CHAT_WAIT_PING = ["{hello?|hello??|are you still there?|anyone there?}", "{it's been|that's been} {ages|<hold_min> minutes}{, hello?|}"]
_NO_HOLD = [
    "{no need to put you on hold|I won't need to put you on hold}{, I've got it right here|, it's all on the screen|}",
    "{I've got|I can see} everything {here|on my screen}{, so no need to transfer you|, no need to hold}",
]
_TRANSFER_ASK = [
    "{I'm going to|I'll have to|let me} {transfer|put} you {through|over} to <dept>{, they deal with this|, they'll be able to help|}{, please hold|}",
    "{this is|that's} {actually|} one for <dept>{, I'll transfer you now|, let me put you through}",
]
_TRANSFER_NOTE = ["[transferred to <dept>]", "[call transferred - <dept>]", "[transfer to <dept>, ringing <ring_s> s]"]
_TRANSFER_NOTE_CHAT = ["[chat transferred to <dept>]", "[conversation moved to <dept> queue]"]
_GREET_AGENT2 = [
    "{hi|hello}{ there|}, {you're through to|this is} <dept>, <agent> {speaking|here}{, how can I help|}?",
    "{hi|hello}, <agent> {here|speaking}{, I've been told you need help with something|, what can I do for you}?",
]
_REEXPLAIN = [
    "{hi|yeah hi}{, so|,} {I've just been transferred|I was just put through}{. |, }{like I told your colleague|as I explained to the last person|I've already explained this once but}{,|} <summary>",
    "{right|ok}, {so|} {for the|this is the} {second|third} time{,|:} <summary>",
    "{did they|didn't they} {not tell you|pass on any notes}? {ok|fine}{,|} <summary>",
]
_REVERIFY = [
    "{before we go on|for security|I'm sorry but} I {need to|have to} {verify you again|ask the security questions again|take you through security again}{, it doesn't carry over|}",
    "{can I just|I'll just need to} {take|confirm} <verify_ask> {again|one more time}{ please|}?",
]
_REVERIFY_ANSWER = [
    "{seriously?|again?|I've already done this|I literally just did that}{,|.} {fine,|ok,|} <verify_answer>",
    "{I gave all that|I've given that} {to the last person|already}{ -|, but ok,|. Fine:} <verify_answer>",
]
_REPEAT_INFO = [
    "{as I said|like I said|I already told you|I've given this already}{,|} {it's|the number's} <order_no>",
    "{I've|I have} {already|} {explained|said} {this|all this}{ twice|}{,|.} <summary>",
    "{like I|as I} {told the bot|put in the form|wrote in my email}{,|} <summary>",
]
_CHANNEL_SWITCH = [
    "{I tried|I already tried} {the chat|your chatbot|emailing|the app|calling} {first|earlier|yesterday} and {it just went round in circles|nobody got back to me|they told me to ring this number|it told me to contact you here}",
    "{your|the} {website|app|FAQ} {sent me here|told me to call|kept sending me back to the same page}{, so here I am|}",
    "{I've|I have} {emailed|messaged you} {twice|a couple of times} {and heard nothing|with no reply}{, so I'm trying this way|}",
]
_BOT_FALLBACK = [
    "Sorry, I didn't {quite |}{get|understand} that. {You can say things like|Try something like} '{check my order|billing|technical help|make a payment}'.",
    "I'm not sure I understood. {Could you rephrase that?|Can you tell me in a few words?}",
    "{Hmm|Sorry}, I can help with orders, bills, payments and account questions. Which one is it?",
]
_BOT_FALLBACK_REPLY = ["{agent|speak to a person|human please|talk to someone real|representative}", "{I just told you|I said}{,|} <summary>",
                       "<summary>", "{none of those|it's not any of those}{. <summary>|}"]
_HANDOVER_BOT = [
    "{I'll|Let me} {connect you|transfer you} to {a member of our team|an agent|one of my colleagues}{, please wait|}.",
    "{This needs a human|A colleague can help with this}. {Connecting you now|I'm transferring you now}{, the wait is about <qmin> minutes|}.",
]
_HANDOVER_NOTE = ["[handover to live agent]", "[transferred to human agent after <qmin> min wait]", "[handed over to <dept>]"]
_GREET_AFTER_HANDOVER = [
    "{hi|hello}{ <cust_first>|}, <agent> here{, I can see what you told our assistant|, I've got the notes from the automated system}{, let me take a look|}",
    "{hi|hello}, {I'm|this is} <agent>{, thanks for waiting|}. {Can you tell me what's happened?|What can I help with?}",
]

# --- neutral middle segments
_ATTEMPT_STEP = [
    "{can you|could you|let's try|would you mind} <step>{ for me|}?",
    "{ok|right}, {next|the next thing} {I'd like you to try is|to try is} <step>",
    "{one thing that|something that} {often|sometimes} helps is <step>{, can you give that a go?|}",
]
_ATTEMPT_DO = ["{ok|right}{, doing that now|, hang on|, one sec|}", "{ok|alright}{, give me a sec|, bear with me|}", "{I've|I have} {done that|tried that} {before|already}{ but ok|, but I'll do it again|}"]
_ATTEMPT_NEUTRAL = [
    "{ok it's|it's} {restarting|loading|thinking about it}{ now|}", "{hmm|um}, {not sure|hard to tell}{, it's doing something|}",
    "{the light's|it's} {flashing|blinking}{ a bit|}{, is that normal?|}", "{it's|that's} {done|finished}{, now what?|}",
    "{it's|ok it's} {gone off|turned off} {and|, and it's} {coming back on|booting up}",
]
_ATTEMPT_FAIL = ["{no|nope}{,|} {still the same|same thing|no change}", "<fault_short>{, same as before|}", "{nope|no}{, that didn't do anything|, nothing}"]
_ATTEMPT_NEXT = ["{ok|right|hmm}{, let's try something else|, let's try another thing|, that's strange|}", "{ok|mm}{, bear with me|, let me think|}",
                 "{ok, that's|right, that's} {useful to know|good to rule out}"]
_ATTEMPT_ACTION = [
    "{let me|I'm going to} {try|have a go at} {resubmitting|re-running|pushing} {it|the request} {through|again}{ from my side|}",
    "{I'm going to|let me} try {a manual override|doing it from the back office system|a different screen}",
    "{I'll|let me} {try|check} {another way|the other system}{, one sec|}",
]
_ATTEMPT_ACTION_RESULT = ["{hmm|ok}, it's {thinking|taking its time|still loading}", "{it's|it has} come back with an error{, let me try another way|}",
                          "{ok|right}, {that's|it's} {gone into|sitting in} a queue{, let me check it|}"]
_SLOW = [("{sorry|apologies}, {my system's|the system is|it's} {really slow|being slow|frozen} {today|this morning}{, bear with me|}",
          "{no worries|that's ok|typical|ha, same everywhere}")]
_NOTES = [("{I'm just adding some notes|let me just make a note on the account|I'm just writing this up}{ so anyone can see it|}", "{ok|mhm|sure}"),
          ("{I'm|I am} {messaging|checking with} {a colleague|my team leader} {on the side|on the internal chat}{, one sec|}", "{ok|sure}{, no problem|}")]
_READBACK = [
    ("{so just to confirm|let me just read that back}, {your email is|that's} <email>{, is that right|, correct}?", "{yes|yep|that's right|correct}"),
    ("{and|can I also check} the {best|contact} number{ is the one ending| ends} <phone_tail>?", "{yes|yeah}{, that's my mobile|}"),
    ("{and|just to confirm} the address {is|is still} <house_no> <street>?", "{yes|that's it}{, <postcode>|}"),
    ("{can you|could you} spell {the email|your surname} for me?", "{sure|yeah}, <cust_last_spelled>"),
]
_POLICY_TALK = [
    "{just so you know|the way it works is|for context}, {we can only|we normally} {refund to the original payment method|make changes up to 24 hours before|look at the last six months|do this once per account}",
    "{so|ok so} {our|the} policy {is|says} {that|} {anything like this|requests like this} {has to be|gets} {logged|checked} {first|before we act on it}",
    "{there's|we have} a {process|procedure} for this{, it's a bit long winded, sorry|}",
]
_SMALLTALK = [
    ("{how's|how is} the weather {over there|where you are|today}?", "{oh|ah}{,|} {it's|pretty} {grim|lovely|chucking it down|roasting}{, to be honest|}{, you?|}"),
    ("{sorry|excuse me}, that's my dog barking{, he hears the postman|}", "{ha|oh} no worries{, I've got two myself|}"),
    ("{are you|you} working from {home|the office} {today|this week|on <weekday>s}?", "{no|yes}{, in the office today|, from home|, mix of both}{, it's quiet|, it's nice|}"),
    ("{did you have a good|how was your|had a nice} {weekend|week so far|day off|morning}?", "{yes|not bad|lovely} thanks{, bit of gardening|, quiet one|, went to see my sister|, too short|}"),
    ("{is it|are you} {busy|quiet|manic} {today|this morning|this week}?", "{it's|yeah it's} {been non-stop|a bit mad|not too bad|steady}{ since the letters went out| since <weekday>|}"),
    ("{where are you based|where are you calling from|which office are you in}{ today| these days|}?", "{we're in|I'm in|our team's in} <site_city>{, it's nice|, it's raining as usual| this week|}"),
    ("{sorry|hang on}, the kids are shouting", "{ha|no problem}, {take your time|I understand}"),
    ("{did you see|you see|did you catch} the {match|game|final} {last night|at the weekend|on <weekday>}?", "{I did|ha, don't|no, missed it}{, what a game|, don't talk to me about it|, was it good?|}"),
    ("{sorry|excuse me}, {someone's at the door|the doorbell}{, one sec|}", "{no problem|sure}, {I'll wait|take your time}"),
    ("{sorry|apologies}, I've got a terrible cold", "{oh no|aw}, {hope you feel better|get well soon}"),
    ("{have you|you} {got|have} anything nice planned {for the weekend|this weekend}?", "{not really|just family stuff|a bit of a lie-in}{, you?|}"),
    ("{sorry|excuse me}, I'm just {making a cup of tea|putting the kettle on}", "{ha|no problem}{, I could do with one myself|}"),
    ("{how long|how long have} you been {working there|doing this job|at <company>}?", "{about|nearly|just over} {two years|six months|a year|three years}{ now|}{, time flies|}"),
    ("{it's|it is} {mad|crazy} how {expensive|pricey} everything {is|has got}{ at the moment|}", "{tell me about it|I know}{, it's everywhere|}"),
    ("{sorry|hang on}, the {baby's|cat's} {crying|making a racket}", "{no worries|aw}{, take your time|}"),
    ("{is it|it's} {always|usually} this busy{ on a <weekday>|}?", "{usually|it depends}{, <weekday>s are the worst|}"),
    ("{sorry|excuse me}, {my phone's|the signal's} {about to die|a bit rubbish here}", "{no problem|ok}{, I'll be quick|, let me know if you drop out}"),
    ("{where|which part} are you {based|calling from}?", "{not far from|just outside} <city>{, you?|}"),
]
_ASIDE = ["{sorry|by the way|just so you know}, <situation>", "<situation>{, so|,} {sorry if I'm a bit slow|bear with me|that's why I'm calling now}"]
_CONFUSER = [
    ("customer", "{if you can't fix it|if you can't sort it}, {can you|I'd like you to} {escalate it|pass it to a manager|put me through to someone senior}{,| -} {but|} {let's see|see what you can do first}"),
    ("agent", "{I might have to|I may need to} {pass this on|escalate this|raise a ticket}{, but let me try something first| - let's see}"),
    ("agent", "{this usually|normally this} {fixes it|sorts it out}{, fingers crossed|}"),
    ("agent", "{the|a} {refund|fix|change} {might|can} take {a little while|a few minutes} to {show|kick in}{ once it's done|}"),
    ("customer", "{ok|right}, {thanks|cheers}{, that's helpful|, appreciate it|}"),
    ("agent", "{I've|I have} {found|got} {something|a note} {here|on the account}{, let me read it|}"),
    ("customer", "{I hope|hopefully} {you can|someone can} sort this{ today|}{, I haven't got time to keep chasing|}"),
    ("agent", "{don't worry|no problem}, we'll {get to the bottom of it|figure it out}"),
]
_FOLLOWUP_Q = [
    ("{while I've got you|oh and while I have you}, <qa2_q>?", "{sure|good question}{,| -} <qa2_a>"),
    ("{one more thing|also}, {will this|is this going to} affect my {credit score|next bill|account}?", "{no|not at all}{, it won't|, nothing changes there}"),
    ("{will I|do I} get an email {about this|confirming anything}?", "{yes|you should}{, within the hour|, in a few minutes|}"),
]
_PLAN_REVIEW = [
    ("{while I've got you|by the way}, {I can see you're out of contract|you could save money on <new_plan>|there's a newer deal you'd qualify for}{, want me to go through it?|}",
     "{no thanks|not today}{, I'm fine as I am|, maybe another time|}"),
    ("{I've|I have} {also|} noticed you've still got <addon> on the account{, do you still need it?|, is that still needed?}", "{yes|yeah}{, leave it|, I still need it|}"),
]

# --- closings
_ANYTHING_ELSE = ["{is there|was there} anything else {I can help with|I can do for you|you need|I can look at}{ today|, <cust_first>| while I've got you| at all|}?",
                  "{anything else|is there anything else} {today|for you|I can do}{, <cust_first>|}?",
                  "{can I help with|is there} anything else{ at all| on the account| today|}{ before you go|}?",
                  "{was that|is that} everything{ for today|, <cust_first>|}?"]
_NOTHING_ELSE = ["{no|nope|no that's it|no that's everything}{, thanks|, cheers|}", "{that's all|that's it}{ for now|}{, thanks|}", "{no|no no}{,|} {all good|I'm good}"]
_BYE_AGENT = ["{thanks for calling|thanks for getting in touch|thank you for contacting} <company>{,| -} {have a good|have a lovely|enjoy your|have a great} {day|evening|weekend|<weekday>|rest of your day}{!|.}",
              "{take care|bye now|all the best}{, <cust_first>|}{, thanks for your patience|, and sorry again for the trouble|}",
              "{ok|alright|right}{, <cust_first>,|} {have a good one|bye for now|you take care}"]
_BYE_CUST = ["{bye|thanks, bye|cheers, bye|ok bye|bye bye}", "{you too|and you}{, bye|}", "{thanks|thank you}{ again|}{, bye|}"]
_BYE_BOT = ["Thanks for <bot_contacting> <company>. {Have a great day!|Goodbye!}", "{Glad I could help|Thanks}! <bot_close>"]
_QUICK = ["{that was|well that was} {quick|painless|easier than I expected}{, thanks|}", "{oh|wow}, {quicker than I thought|that was fast}"]
_THANKS_POLITE = ["{well|ok well}{,|} {thanks for your help|thanks for trying|you've been very helpful}{ anyway|}{, I'll try again later|, I'll sort it myself|}",
                  "{thanks|thank you}{ for your time|}{, really appreciate it|}", "{ok|alright}{, thanks|, cheers} {for looking|for your help}"]
_GRUMBLE = ["{fine|right}{, about time|, finally}", "{ok|well}{,|} {it's done|that's done} {at least|I suppose}{, but that took far too long|}"]

# --- outcome blocks
_CLAIM = ["{ok|right}{,|} {that should|it should|everything should} be {sorted|fixed|done|working} now{, can you check?|}",
          "{there we go|all done}{, that's|, it's} {sorted|fixed} {for you|}"]
_CHECKING = ["{let me|hang on, let me} {check|look|refresh}", "{one sec|give me a second}{, checking|, refreshing the app|}",
             "{ok|right}, {refreshing|logging in} {now|to check}", "{I'll|let me} {just|} {check|look} {on the app|on my phone|my emails}"]
_DEFER = [
    "{hmm|that's strange}{,|} {give it|leave it} {24 hours|a couple of hours|overnight} and {call back|get back in touch} if {it's still|it's not}{ working| right|}",
    "{it can take|sometimes it takes} {a while|a day or so} to {update|come through}{, if it's not there by <weekday> give us a call|}",
    "{I'm|I am} not {sure|really sure} {what else to try|what's going on}{, sorry|}{, maybe try again later|}",
]
_DEFER_ACK = ["{fine|ok|right}{, whatever|}", "{so|ok so} {nothing's|it's not} {fixed|sorted} then", "{great|brilliant}{, so I'll be calling again|}{.|...}"]
_CANNOT_REACT = ["{that's ridiculous|seriously?|so that's it?|ok, I guess}", "{so|right so} {there's nothing you can do|you can't help}?",
                 "{that's|this is} {not good enough|really disappointing}", "{oh|ah}{, ok|}{,| -} {I didn't know that|I wasn't told that}"]
_CANNOT_SORRY = ["{I'm sorry|sorry}, {there's nothing more I can do|my hands are tied|that's the policy}", "{I really am sorry|I wish I could do more}{, I know it's not what you wanted|}"]
_CASE_REF = ["{I've|I have} {logged|noted} {the call|everything}{, the reference is <case_no>|, your reference is <case_no>}",
             "{your|the} reference {for this|number} is <case_no>{ if you need it|}"]
_GIVE_UP = ["{forget it|you know what, forget it|I haven't got time for this}{, I'll sort it myself|, I'll go into the store|, I'll try another day|}",
            "{this is|this is just} {pointless|going nowhere}{, bye|}"]
_END_NOTES_CUST_LEFT = ["[customer left the chat]", "[call ended by customer]", "[customer disconnected]"]
_DROP_NOTE = ["[call disconnected]", "[line dropped]"]
_PENDING_ASK = ["{I'll need|we'll need} {a photo of the meter|the receipt|a copy of your ID|a screenshot of the error} before I can {do anything|go any further}{, can you email it to us?|}",
                "{without|until we have} {the receipt|proof of postage|the documents} {I can't|we can't} {progress it|do anything}"]
_PENDING_REPLY = ["{I haven't got it|I don't have it} {on me|here}{, I'll have to call back|, I'll dig it out}", "{ok|right}, {I'll|I'll have to} {find it|look for it} {and call back|and send it}"]
_NO_IDEAS = ["{I've tried|honestly, I've tried} everything I can {from here|on my side}{, I'd suggest <suggest> and if that doesn't help, <come_back>|}",
             "{I'm|I am} {out of ideas|stuck}{, sorry|}{, try <suggest> and <come_back> if it's still not right|}"]
_ESC_TICKET = ["{I've|I have} {raised|logged|opened} {a ticket|a case|a referral}{ with them|}{, reference <case_no>|}{, they'll {contact you|be in touch|call you back} within {24 hours|48 hours|three working days|five working days}|}",
               "{I've|I have} {passed|sent} {it|this} {over|across} {to them|}{ with all the notes|}, {they'll|someone will} {call|email} you {within|in} {two|three|five} working days{, your reference is <case_no>|}"]
_ESC_ACK = ["{ok|right}{,|} {so I just wait?|and they'll call me?|fine}", "{ok|fine}{, as long as someone actually calls|, I'll wait to hear}", "{right|ok}{, thanks|}"]
_ESC_CONFIRM = ["{that's right|yes}{, they'll call you on the number ending <phone_tail>|, you'll get an email too|}", "{yes|exactly}{, they'll have all the notes|}"]
_ESC_TRANSFER = ["{I'm going to|I'll} {transfer|put} you {through|over} to <team> {now|}{ - they're the only ones who can do this|}{, please stay on the line|}"]
_ESC_TRANSFER_NOTE = ["[call transferred to <team> - end of recording]", "[transferred to <team>]", "[call handed to <team>]"]
_ESC_TRANSFER_NOTE_CHAT = ["[chat transferred to <team> queue]", "[conversation handed to <team>]"]
_ESC_SUPERVISOR = ["{I'll|I'm going to} {get|ask} my {supervisor|manager|team leader} to {call you back|review it}{ by <weekday>| today|}{, they can authorise it|}"]
_ESC_FIELD = ["{I've|I have} {booked|arranged|raised a job for} {an engineer|a technician} {to|who'll} {come out|visit} on <new_date>{ between eight and one|}{, they'll take it from there|}"]
_ESC_FIELD_ACK = ["{ok|right}, {I'll|I'll have to} {take the day off|make sure I'm in}", "{fine|ok}{, as long as they turn up|}"]
_BOT_HANDOVER_END = ["{I'll|Let me} {connect you|transfer you} to {a specialist|an agent|the <dept> team}{, you're number <n_small> in the queue|}.",
                     "{This needs a specialist|I can't do this here}. {I'm passing you to|Connecting you with} <dept>{ now|}{, please stay in the chat|}."]
_BOT_HANDOVER_END_NOTE = ["[waiting for an agent - position <n_small>]", "[queued for <dept>]"]
_BOT_FAIL = ["{Sorry|I'm sorry}, I can't help with that {here|in the chat}. {Is there anything else?|You can find more in our help centre.}",
             "I didn't understand. {Please try again later.|You can visit the help centre for more options.}"]
_BOT_FAIL_REACT = ["{useless|this is pointless|never mind}", "{forget it|ugh}{, I'll call instead|}"]
_RETAIN_OFFER = ["{before you go|if I could just}, {I can|I could} {offer|give} you {half price for six months|<small_amount> off a month|a free upgrade}{ if you stay|}",
                 "{is there anything|what} {that would make you stay|would change your mind}{? I can do <small_amount> off a month|}"]
_RETAIN_ACCEPT = ["{ok|go on then|fine}, {at that price|for that} I'll stay", "{alright|ok}{, if it's really <small_amount> off|}{, I'll stay|, I'll give it another go}"]
_RECAP = ["{so just to recap|so to sum up}{,|} <recap>", "{so|ok so}{,|} {as I said|just to confirm}, <recap>"]

# --- churn
_CHURN = {
    "threat": ["{honestly|to be honest|I'm telling you}, {if this isn't sorted|if this happens again|one more problem and} {I'm leaving|I'm off|I'll take my business elsewhere|I'm done with <company>}",
               "{I'm|I am} {seriously|really} {thinking about|considering} {leaving|going elsewhere|moving}{ after this|}",
               "{you're|you are} {this close|very close} to losing {a customer|me as a customer}"],
    "competitor": ["{<competitor> are offering|I've had a quote from <competitor> for|<competitor> will do it for} <price>{ a month|}{, so give me a reason to stay|, why should I stay with you?|, I'm seriously thinking about it}",
                   "{I've|I have} {been looking at|had a look at} <competitor>{ and they're cheaper|, they've got a better deal|}{, I might just switch|, so I'm weighing it up}"],
    "price": ["{I'm paying|I pay} <price> {a month|now}{ for this|}{ and it keeps going up|}, {it's not worth it|I can't justify it|I'm going to have to look around}",
              "{every year|every time} {the price|it} goes up{, and|.} {I'm|I am} {starting to look elsewhere|not sure it's worth staying}"],
    "repeated_failures": ["{this keeps happening|it's the same every time|every month there's something}{,|.} {I'm losing patience with you lot|I've had enough|I don't know why I stay}",
                          "{I|honestly, I} {can't keep|can't be} {doing this|chasing you}{, I'll go somewhere that works|, I'll move if I have to}"],
    "cancel_account": ["{you know what|honestly|actually}, {just|I want you to} {close|cancel} <closure>{, I've had enough|, I'm done|}",
                       "{I want to|I'd like to} {cancel|close} <closure>{ after this|, today|}{. <reason>|}"],
}
_CHURN_NEG = {
    "loyal": ["{look|listen}, {I'm not going anywhere|I'm not leaving}{, I've been with you <years> years|}{,|.} {I just want this fixed|just sort it out|I just want it working}",
              "{don't worry|I'm not one of those people}, {I'm not going to leave over this|I'm not threatening to leave}{, I just want it sorted|}"],
    "competitor_fav_stays": ["{my sister|my neighbour|a mate at work} {is with|uses|switched to} <competitor> and {loves it|says they're great}{, but|. But} {I'm happy here|I'd rather stay put|I'm not looking to move}{, honestly|}"],
    "competitor_negative": ["{I tried|I was with} <competitor> {before|last year} and {they were awful|never again}{, so|.} {I'm staying put|you're stuck with me}"],
    "price_question": ["{I noticed|I see} the price {went up|is going up}{, I'd just like to understand why|, what's that for?}"],
    "vent": ["{I'm really annoyed|this is so frustrating}{, but|.} {it's not the end of the world|I know it's not your fault}"],
}
_PRICE_ANSWER = ["{it's|that's} the {annual|yearly} price {review|rise}{, it went up by <rate> percent for everyone|}", "{the|your} {discount|promo} {ended|ran out} {last month|in <month>}"]
_PRICE_ACK = ["{ok|right}{, fair enough|, that makes sense|}", "{ah|oh}, {I see|ok}{, thanks for explaining|}"]
_CHURN_REPLY = ["{I'm|I am} sorry you feel that way{, let's see what I can do|}", "{I understand|I hear you}{,|.} {let me try to fix this first|before we do anything, let me see what I can do}",
                "{I'd|I would} {hate to lose you|really like to keep you}{ as a customer|}{, let me see|}"]

# --- repeat contact
_REPEAT = {
    "count": ["{this is the|it's the} <n_ord> time {I've <contacted>|I'm <contacting>|I've contacted you|I've been in touch} about this",
              "{I've|I have} {called|been on to you} <n_times> {now|already} about {this|the same thing}"],
    "called_before": ["{I called|I rang|I spoke to someone|I was on the chat} {about this|about the same thing} <when>",
                      "{I|I've} {already|} {reported|raised} this <when>"],
    "promise": ["{I was told|your colleague said|they promised} <when> {that it would be fixed|it'd be sorted within 48 hours|that it would be done|that someone would sort it}{ and nothing's happened|, and still nothing|}"],
    "ref": ["{I've got a|I have a|my} {reference|case|ticket} number{, it's| -|:} <case_no>", "{the|my} {case|reference} is <case_no>{ if that helps|}"],
    "callback": ["{someone was supposed to|I was promised someone would} {call me back|ring me}{ from <prev_team>|}{ and nobody did|, never happened}"],
    "family": ["{my husband|my wife|my partner|my son} {called|rang} about this <when>{ and got nowhere|}"],
}
_REPEAT_AGENT = ["{I can see|I see} {you spoke to|you were in touch with} {my colleague|us|one of the team} <when> about this{, and it's still not sorted|}",
                 "{I've|I have} {got|found} the {notes|case} from {your last call|last time}{ here|}{, <case_no>|}"]
_REPEAT_AGENT_ACK = ["{yes|yeah}{, that's right|, that's me|}", "{yep|yes}{, and it's still not fixed|}"]
_FIRST_NEG = {
    "first_time": ["{this is the first time|first time} {I've ever had to|I've needed to} {call|contact you}{ in years|}"],
    "different_issue": ["{I called|I was on to you} <when_old> about {something else|a different thing|my bill} {but this is new|, this is a new problem|, nothing to do with this}"],
    "told_by_other": ["{a friend|the website|the app|someone in the shop|my bank} told me to {call|contact you}{ about it|}"],
    "order_ref": ["{I've got|here's} my {order|booking} {reference|number}{:|,} <order_no>"],
    "agent_history": ["{I can see|I see} you {contacted us|were in touch} <when_old> about {something different|your direct debit|a different order}{, but nothing about this|}"],
}


# ----------------------------------------------------------------------------------- channel styles

_HOMOPHONES = {
    "there": "their", "their": "there", "to": "too", "too": "to", "for": "four", "your": "you're",
    "you're": "your", "right": "write", "here": "hear", "buy": "by", "by": "bye", "week": "weak",
    "new": "knew", "wait": "weight", "through": "threw", "whole": "hole", "mail": "male", "fare": "fair",
    "sale": "sail", "sent": "cent", "where": "wear", "would": "wood", "our": "hour", "one": "won",
    "eight": "ate", "see": "sea", "meet": "meat", "weather": "whether", "its": "it's", "it's": "its",
    "then": "than", "than": "then", "accept": "except", "bill": "bell", "code": "coat", "card": "cart",
    "line": "lion", "account": "a count", "email": "e mail", "online": "on line", "refund": "re fund",
}
_PROTECTED = frozenset(
    """not no never nothing none nobody still cancel cancelled close closed leave leaving switch switching
    can't cannot won't don't didn't doesn't isn't wasn't haven't hasn't aren't couldn't wouldn't shouldn't
    cant wont dont didnt doesnt isnt wasnt havent hasnt arent fixed working worked sorted resolved yes yeah
    escalate transfer hold refund refunded declined again time third second fourth first""".split()
)
_FILLERS = ("uh", "um", "uh", "um", "you know", "like", "i mean", "er", "so", "well", "erm", "right so", "oh")
_SHORT_FILLERS = ("uh", "um", "er", "erm", "uh", "like")
_CURRENCY_WORD = {"$": "dollars", "£": "pounds", "€": "euros"}
_RE_MONEY = re.compile(r"([$£€])(\d[\d,]*)(?:\.(\d\d))?")
_RE_DIGITS = re.compile(r"(?<![A-Za-z0-9])\d+(?![A-Za-z0-9])")
_RE_ORD = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)\b")
_ORD_WORDS = dict(enumerate(
    ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
     "fifteenth sixteenth seventeenth eighteenth nineteenth twentieth twenty-first twenty-second twenty-third "
     "twenty-fourth twenty-fifth twenty-sixth twenty-seventh twenty-eighth twenty-ninth thirtieth thirty-first").split()))
_RE_CLAUSE = re.compile(r"[^,.;:?!\n]+[,.;:?!\n]*")
_RE_PUNCT_KEEP_APOS = re.compile(r"[^\w\s'\[\]]")
_RE_PUNCT_ALL = re.compile(r"[^\w\s\[\]]")
_ABBREV = {"you": "u", "please": "pls", "thanks": "thx", "because": "cos", "okay": "ok", "are": "r", "really": "rly",
           "tomorrow": "tmrw", "message": "msg", "probably": "prob"}


def _num_words(n: int) -> str:
    if n < 20:
        return _NUMWORDS[n]
    if n < 100:
        t, u = divmod(n, 10)
        return _TENS[t] + ("" if u == 0 else " " + _NUMWORDS[u])
    if n < 1000:
        h, r = divmod(n, 100)
        return _NUMWORDS[h] + " hundred" + ("" if r == 0 else " and " + _num_words(r))
    if n < 10000:
        th, r = divmod(n, 1000)
        return _NUMWORDS[th] + " thousand" + ("" if r == 0 else (" and " if r < 100 else " ") + _num_words(r))
    return " ".join(_NUMWORDS[int(d)] for d in str(n))


class _Style:
    """How a channel turns clean text into what a transcript or chat log looks like."""

    def __init__(self, rng: Random, channel: str, persona: dict[str, str]):
        self.channel = channel
        self.rng = rng
        self.keep_apos = rng.random() < 0.6
        self.spell_numbers = rng.random() < 0.5
        self.homo = rng.uniform(0.03, 0.14)
        self.drop = rng.uniform(0.01, 0.05)
        self.inaudible = rng.uniform(0.0, 0.03)
        self.cust_disfl = {"low": 0.03, "mid": 0.07, "high": 0.13}[persona.get("disfluency", "mid")]
        self.agent_disfl = rng.uniform(0.005, 0.03)
        self.stutter = rng.uniform(0.005, 0.03)
        self.chat_style = persona.get("chat_style", "clean")

    # -- voice
    def _speak(self, text: str) -> str:
        def money(m: re.Match) -> str:
            whole = m.group(2).replace(",", "")
            unit = _CURRENCY_WORD[m.group(1)]
            cents = m.group(3)
            w = _num_words(int(whole)) if self.spell_numbers and len(whole) <= 4 else whole
            if cents and cents != "00":
                c = _num_words(int(cents)) if self.spell_numbers else cents
                return f"{w} {unit} {c}"
            return f"{w} {unit}"

        text = _RE_MONEY.sub(money, text)
        if self.spell_numbers:
            text = _RE_ORD.sub(lambda m: _ORD_WORDS.get(int(m.group(1)), m.group(0)), text)
            text = _RE_DIGITS.sub(lambda m: _num_words(int(m.group(0))) if len(m.group(0)) <= 3 else
                                  " ".join(_NUMWORDS[int(d)] for d in m.group(0)), text)
        return text

    def _asr(self, text: str, customer: bool, protect: bool) -> str:
        rng = self.rng
        text = self._speak(text).replace("&", " and ").replace("-", " ").replace("/", " ")
        disfl = self.cust_disfl if customer else self.agent_disfl
        out: list[str] = []
        punct = _RE_PUNCT_KEEP_APOS if self.keep_apos else _RE_PUNCT_ALL
        for clause in _RE_CLAUSE.findall(text):
            low = clause.lower()
            if not self.keep_apos:
                low = low.replace("'", "")
            words = punct.sub(" ", low).split()
            if not words:
                continue
            if rng.random() < disfl * 2.5:
                out.append(_pick(rng, _FILLERS))
            for w in words:
                if w in _PROTECTED or w.startswith("["):
                    out.append(w)
                    continue
                r = rng.random()
                if not protect and r < self.drop:
                    continue
                if not protect and r < self.drop + self.inaudible * 0.3:
                    out.append("[inaudible]")
                    continue
                if rng.random() < self.homo and w in _HOMOPHONES:
                    w = _HOMOPHONES[w]
                if rng.random() < disfl * 0.4:
                    out.append(_pick(rng, _SHORT_FILLERS))
                if rng.random() < self.stutter:
                    out.append(w)
                out.append(w)
        if not out:
            out = ["mm"]
        return " ".join(out)

    # -- chat
    def _chatify(self, text: str) -> str:
        rng = self.rng
        st = self.chat_style
        if st == "clean":
            return text
        if st == "casual":
            if rng.random() < 0.5 and text[:1].isupper() and not text.startswith("I "):
                text = text[0].lower() + text[1:]
            if text.endswith(".") and rng.random() < 0.6:
                text = text[:-1]
            return text
        # sloppy: lowercase, fewer apostrophes, abbreviations, the odd typo
        words = []
        for w in text.lower().split():
            core = w.strip(".,!?")
            if core in _ABBREV and rng.random() < 0.5:
                w = w.replace(core, _ABBREV[core])
            elif len(core) > 4 and core not in _PROTECTED and rng.random() < 0.04:
                j = rng.randrange(len(core) - 1)
                typo = core[:j] + core[j + 1] + core[j] + core[j + 2 :]
                w = w.replace(core, typo)
            words.append(w)
        text = " ".join(words)
        if rng.random() < 0.5:
            text = text.replace("'", "")
        text = text.rstrip(".")
        if text.endswith("?") and rng.random() < 0.2:
            text += "?"
        return text

    def render(self, speaker: str, text: str, protect: bool) -> str:
        if speaker == "system":
            return text
        if self.channel == "voice":
            if speaker == "bot":
                return text
            return self._asr(text, speaker == "customer", protect)
        if self.channel == "chat" and speaker == "customer":
            return self._chatify(text) or text
        return text


# ------------------------------------------------------------------------------------------ slots


def _fmt_money(rng: Random, sym: str, lo: float, hi: float) -> str:
    v = lo * (hi / lo) ** rng.random()
    if v > 200 or rng.random() < 0.3:
        return f"{sym}{int(round(v)):,}"
    return f"{sym}{v:.2f}"


def _ordinal_day(d: int) -> str:
    suf = "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suf}"


def _date_forms(d: datetime) -> list[str]:
    day = _ordinal_day(d.day)
    month = _MONTHS[d.month - 1]
    return [f"the {day}", f"{month} {day}", f"the {day} of {month}", f"{_WEEKDAYS[d.weekday()]} the {day}"]


def _ago(rng: Random) -> tuple[list[str], int]:
    days = _pick(rng, (3, 5, 8, 10, 14, 17, 21, 28, 35))
    if days < 7:
        forms = [f"{_NUMWORDS[days]} days ago", "a few days ago", "earlier this week"]
    elif days < 14:
        forms = ["last week", "over a week ago", f"{_NUMWORDS[days]} days ago"]
    elif days < 28:
        forms = [f"{_NUMWORDS[days // 7]} weeks ago", "a couple of weeks ago", f"{days} days ago"]
    else:
        forms = ["about a month ago", "over a month ago", "five weeks ago"]
    return forms, days


def _when_phrases(gap_h: float, prev: datetime) -> list[str]:
    wd = _WEEKDAYS[prev.weekday()]
    if gap_h < 14 and prev.hour < 12:
        return ["this morning", "earlier today", "a few hours ago"]
    if gap_h < 14:
        return ["earlier today", "a few hours ago"]
    if gap_h < 36:
        return ["yesterday", f"yesterday {'morning' if prev.hour < 12 else 'afternoon'}", "last night" if prev.hour >= 17 else "yesterday"]
    if gap_h < 80:
        return [f"on {wd}", "a couple of days ago", "the other day"]
    return [f"on {wd}", "a few days ago", "last week" if gap_h > 100 else "earlier this week", "the other day"]


def _code(rng: Random, fmt: str) -> str:
    """Order-number style: '#D7' -> '#' + 7 digits, 'L6' -> 6 letters, 'ORD-6' -> prefix + 6 digits."""
    if fmt == "L6":
        return "".join(_pick(rng, "ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(6))
    if fmt.startswith("#D"):
        return "#" + "".join(str(rng.randrange(10)) for _ in range(int(fmt[2:])))
    m = re.match(r"^([A-Z#-]*?)(\d+)$", fmt)
    prefix, n = (m.group(1), int(m.group(2))) if m else ("", 6)
    return prefix + str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10)) for _ in range(n - 1))


def _customer(rng: Random, seen: dict[str, int]) -> dict[str, str]:
    while True:
        cid = "C" + "".join(str(rng.randrange(10)) for _ in range(9))
        if cid not in seen:
            seen[cid] = 1
            break
    first, last = _pick(rng, _FIRST), _pick(rng, _LAST)
    dom = _pick(rng, ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "hotmail.co.uk", "proton.me"))
    email = _pick(rng, (f"{first}.{last}", f"{first}{rng.randrange(10, 99)}", f"{first[0]}{last}", f"{last}.{first[0]}")).lower()
    email = email.replace("'", "") + "@" + dom
    return {
        "customer_id": cid, "first": first, "last": last, "email": email,
        "postcode": _pick(rng, ("LS6", "M14", "BS3", "G12", "EH7", "CF10", "NE2", "SW9", "B13", "L17"))
        + f" {rng.randrange(1, 10)}{_pick(rng, 'ABDEFGHJLNPQRSTUWXYZ')}{_pick(rng, 'ABDEFGHJLNPQRSTUWXYZ')}",
        "phone_tail": f"{rng.randrange(100, 1000)}",
        "dob": f"{rng.randrange(1, 29)} {_MONTHS[rng.randrange(12)]} {rng.randrange(1942, 2005)}",
        "house_no": str(rng.randrange(1, 180)),
        "street": _pick(rng, ("Oak Road", "Station Street", "Mill Lane", "Park Avenue", "Church Close", "Victoria Terrace",
                              "Harbour View", "Elm Grove", "King Street", "Meadow Way")),
        "acct_id": "".join(str(rng.randrange(10)) for _ in range(8)),
        "last4": f"{rng.randrange(0, 10000):04d}",
        "years": _pick(rng, ("two", "three", "five", "seven", "ten", "twelve", "fifteen", "twenty")),
    }


def _make_slots(rng: Random, story: dict[str, Any], cust: dict[str, str], fixed: dict[str, str] | None, wide: float = 0.0) -> dict[str, Any]:
    """Slot values for one conversation; ``fixed`` carries the facts a repeat contact shares with its earlier one."""
    ind = _IND[story["industry"]]
    lex = dict(ind)
    if "brands" in ind:
        lex.update(ind["brands"][story["company"]])
    sym = story["currency"]
    lo, hi = ind["amount"]
    started: datetime = story["_started"]
    later = started + timedelta(days=rng.randrange(2, 20))
    earlier = started - timedelta(days=rng.randrange(3, 30))
    ago_forms, _ = _ago(rng)
    s: dict[str, Any] = {
        "company": story["company"],
        "competitor": _pick(rng, ind["competitors"]),
        "cust_first": cust["first"], "cust_last": cust["last"], "cust_full": f"{cust['first']} {cust['last']}",
        "cust_last_spelled": " ".join(cust["last"].upper().replace("'", "")),
        "email": cust["email"], "email2": f"{cust['first'].lower()}.{rng.randrange(1, 99)}@{_pick(rng, ('gmail.com', 'outlook.com', 'work.co'))}",
        "postcode": cust["postcode"], "phone_tail": cust["phone_tail"], "dob": cust["dob"], "house_no": cust["house_no"],
        "street": cust["street"], "acct_id": cust["acct_id"], "acct_tail": cust["acct_id"][-4:], "last4": cust["last4"],
        "years": cust["years"],
        "agent": _pick(rng, _AGENTS), "bot": _pick(rng, ("Ava", "Sky", "Max", "Nova", "Pip", "Remy")),
        "order_noun": _pick(rng, ind["order_noun"]),
        "order_no": _code(rng, ind["order_fmt"]),
        "case_no": _pick(rng, ("CAS-", "INC", "REF ", "TKT-", "CR")) + str(rng.randrange(100000, 999999)),
        "ref2": _code(rng, "CF-6"),
        "amount": _fmt_money(rng, sym, lo, hi), "amount2": _fmt_money(rng, sym, lo, hi),
        "small_amount": _fmt_money(rng, sym, 3, 40),
        "price": _fmt_money(rng, sym, 8, 90), "old_price": _fmt_money(rng, sym, 8, 90),
        "days": _pick(rng, ("14", "28", "30", "60", "90")),
        "ago": ago_forms, "ago_short": ["a few days", "a week or so", "ten days", "a month", "a couple of weeks", "two or three days", "about a week"],
        "date": _date_forms(earlier if rng.random() < 0.5 else later),
        "new_date": _date_forms(later), "weekday": _pick(rng, _WEEKDAYS), "month": _MONTHS[started.month - 1],
        "time": _pick(rng, ("8:15", "9:40", "11 o'clock", "lunchtime", "2:30", "half five", "6pm")),
        "city": _pick(rng, _CITIES), "city2": _pick(rng, _CITIES),
        "card": _pick(rng, lex["card"]) if lex["card"] else "my card",
        "addon": _pick(rng, ind["addon"]), "closure": _pick(rng, ind["closure"]), "plan": _pick(rng, ind["plan"]),
        "new_plan": _pick(rng, ind["plan"]), "app": _pick(rng, ind["app"]),
        "promo": _pick(rng, ("SPRING20", "WELCOME15", "SAVE10", "FLASH25", "VIP30", "HELLO5")) ,
        "step": list(lex["steps"]) if "steps" in lex else list(ind["steps"]),
        "team": story["team_esc"], "prev_team": story.get("prev_team") or story["team_esc"],
        "dept": _pick(rng, ind["depts"]),
        "merchant": _pick(rng, ("an online electronics shop", "a gaming site", "a taxi firm abroad", "a clothing website")),
        "points": str(rng.randrange(5, 90) * 250), "rate": _pick(rng, ("2.5", "3.1", "4.2", "1.75", "5")),
        "n_small": str(rng.randrange(2, 9)),
        "pin": "".join(str(rng.randrange(10)) for _ in range(4)),
        "chars": f"{_pick(rng, 'abcdefghkmnprstwxyz')} and {rng.randrange(1, 10)}",
        "sort_code": f"{rng.randrange(10, 99)}-{rng.randrange(10, 99)}-{rng.randrange(10, 99)}",
        "workspace": _pick(rng, ("acme-design", "northside-ops", "team-blue", "studio-kite", "finance-hq")),
        "day_ord": _ordinal_day(_pick(rng, (1, 5, 15, 20, 28))),
        "contacted": {"voice": ["called", "rung", "phoned"], "chat": ["messaged", "been on the chat", "written in"],
                      "email": ["written", "emailed"]}[story["channel"]],
        "contacting": {"voice": ["calling", "ringing", "phoning"], "chat": ["messaging", "writing", "getting in touch"],
                       "email": ["writing", "emailing", "getting in touch"]}[story["channel"]],
        "here_channel": {"voice": ["over the phone", "on this line", "on a call"], "chat": ["over chat", "on chat", "in the chat"],
                         "email": ["by email", "over email"]}[story["channel"]],
        "bot_enter": "say" if story["channel"] == "voice" else "type",
        "bot_contacting": "calling" if story["channel"] == "voice" else "chatting with",
        "bot_close": ["Goodbye.", "Bye for now."] if story["channel"] == "voice" else ["You can close this window now.", "Bye for now."],
        "come_back": {"voice": ["call us back", "ring back", "give us a call"], "chat": ["message us again", "start a new chat", "get back in touch"],
                      "email": ["reply to this email", "get back in touch"]}[story["channel"]],
        "site_city": _pick(rng, ("Leeds", "Manila", "Austin", "Cape Town", "Krakow", "Glasgow", "Pune")),
        "situation": story["situation_text"] or "it's been a long week",
        "reason": _pick(rng, _CANCEL_REASONS),

        "qmin": "10", "hold_mss": "2:00", "hold_min": "2", "ring_s": "30",
        "n_ord": _ORDINALS[min(story["prior_count"], 5)], "n_times": ["twice", "two times"] if story["prior_count"] == 1 else ["three times", "a few times", "several times"],
        "when": story.get("_when") or ["last week", "a few days ago"],
        "when_old": ["back in " + _MONTHS[(started.month - 4) % 12], "a couple of months ago", "last year"],
    }
    s["any_amount"] = [_fmt_money(rng, sym, lo, hi) for _ in range(8)]
    s["any_date"] = [f for _ in range(4) for f in _date_forms(started - timedelta(days=rng.randrange(1, 40)))[:2]]
    s["any_merchant"] = list(_ANY_MERCHANTS)
    s["other"] = _expand(_pick(rng, ind["other"]), rng, s, cap=False)
    s["suggest"] = s["step"] if story["cause"] in _TECH_LIKE else [
        "trying again tomorrow", "checking the website later", "waiting until the system's back up", "emailing the team",
        "trying again at the weekend", "checking your emails over the next day or so"]
    s["item"] = _expand(_pick(rng, lex["item"]), rng, s, cap=False)
    s["item2"] = _expand(_pick(rng, lex["item"]), rng, s, cap=False)
    s["booking"] = _expand(_pick(rng, lex["booking"]), rng, s, cap=False)
    s["new_thing"] = _expand(_pick(rng, lex["new_thing"]), rng, s, cap=False)
    fault, fault_short = _pick(rng, lex["faults"])
    s["fault"] = _expand(fault, rng, s, cap=False)
    s["fault_short"] = fault_short
    qa_pool = ind["inquiry"] if story["cause"] == "account_inquiry" else lex["info"]
    q1, a1 = _pick(rng, qa_pool).split("||")
    s["qa_q"], s["qa_a"] = _expand(q1, rng, s, cap=False), _expand(a1, rng, s, cap=False)
    q2, a2 = _pick(rng, lex["info"]).split("||")
    s["qa2_q"], s["qa2_a"] = _expand(q2, rng, s, cap=False), _expand(a2, rng, s, cap=False)
    va, vans = _pick(rng, ind["verify"])
    s["verify_ask"], s["verify_answer"] = va, _expand(vans, rng, s, cap=False)
    if fixed:
        s.update(fixed)
    pk = _pack(story["cause"], story["sub"])
    st = pk["story"]
    s["story"] = _expand(_pick(rng, st.get(story["industry"], st["_"]) if rng.random() < 0.8 else st["_"]), rng, s, cap=False)
    # drawn only when asked for, so a corpus without wide requests keeps its bytes
    if wide and pk is _C[story["cause"]] and story["cause"] in _WIDE_REQUESTS and rng.random() < wide:
        s["story"] = _expand(_pick(rng, _WIDE_REQUESTS[story["cause"]]), rng, s, cap=False)
    s["summary"] = list(_pool(story["cause"], story["sub"], "summary"))
    return s


# facts a repeat contact shares with the earlier contact it follows up
_SHARED_SLOTS = ("item", "item2", "order_noun", "order_no", "case_no", "amount", "amount2", "fault", "fault_short",
                 "qa_q", "qa_a", "story", "booking", "new_thing", "addon", "closure", "card", "other", "new_date",
                 "plan", "price", "old_price", "promo", "competitor")


# -------------------------------------------------------------------------------------- realisation

_EV_HEADS = ("resolution", "contact_cause", "churn_risk", "repeat_contact", "effort")
_R = ("resolution",)
_E = ("effort",)
_CC = ("contact_cause",)
_CH = ("churn_risk",)
_RP = ("repeat_contact", "effort")

_GENERIC_CONFIRM = ["{great|perfect|brilliant}{, thanks|}", "{ok|right}{, that's done then|, lovely|}"]
_AGENT_GLAD = ["{great|perfect}{, glad that's sorted|, glad we got there|}", "{lovely|brilliant}{, that's all done then|}"]
_POOR_AGENT = [("{um|er}, {I'm not sure|I'd have to check}{ about that|}{, give me a sec|}", "{ok|right}{...|}"),
               ("{sorry|apologies}, {I'm quite new|I'm still learning the system}{, bear with me|}", "{that's ok|no worries}"),
               ("{sorry, what|what} was the {number|reference} again?", "<order_no>")]
_UNRES_POST = [("{so|right so} what am I supposed to do now?",
                "{like I said|as I said}, {there's nothing more I can do today|you could try <suggest>|you can <come_back> if anything changes}"),
               ("{and|so} {there's really|there's} no way {around it|to do it}?", "{I'm afraid not|not that I can see}{, sorry|}")]
_BACKSTORY = [
    "{so|right,|ok so} {what happened was|the thing is|basically}, <story>{. Then|, and then} {I|we} tried {sorting it out|looking on your website|the app|asking in the shop}{ but|, and} {nothing changed|it didn't help|no luck}",
    "{to give you the full picture|just so you've got the whole story}, <story>{, and I've been going back and forth since|, and it's been a nightmare since|}",
    "{I|we} first {noticed|spotted} it <ago>{, I thought it would sort itself out|, I left it a few days}{ but it didn't|, but no}",
    "{my|our} {neighbour|son|daughter|friend} {had a look|tried to help}{ and|, and} {couldn't work it out either|said to ring you}",
]
_BACKSTORY_REPLY = ["{ok|right}{, thanks|}{, that's helpful|, that gives me the full picture|, I've got that down}",
                    "{I see|ok}{, and that's still the case now?|}", "{thanks for explaining|got it}{, let me keep going here|}"]
_ACCOUNT_REVIEW = [
    ("{so|ok}, {looking at the account|on the account here}, {I can see|you've got} <plan>{ at <price> a month|}{, since <date>|}", "{yes|yeah|that sounds right}{, I think|}"),
    ("{and|ok and} {you've also got|there's also} <addon> on there{, is that right?|}", "{yes|yeah}{, I think so|, that's right|}"),
    ("{your|the} {last payment|last bill|most recent bill} {was|came to} <amount2>{ on <date>|}", "{sounds|that sounds|yeah that's} about right{, I think|}"),
    ("{you've been|you've been with us} {for|} {<years> years|a while}{, thanks for that|}", "{yeah|yes}{, a long time|, ages}"),
]
_TIMELINE = [
    ("{can we|let's} go through {what happened|the timeline} {step by step|from the start}{? When did you first notice?|}", "{it was|I think it was} <date>{, maybe the day before|}"),
    ("{and|ok and} {what happened|what did you do} {after that|next}?", "{then|after that} {I|we} {rang|messaged} {you|the shop|the bank}{ and|,} {they said|someone said} {to wait|it'd sort itself out|they'd look into it}"),
    ("{did|has} anything {change|changed} {on your side|at home} {around then|recently}?", "{not that I know of|no, nothing}{, same as always|}"),
]
_CUST_CHECKS = ["{hang on|wait|one sec}, {let me|I'll} {get my laptop|find the email|check the app|grab my glasses|find the letter}",
                "{sorry|hold on}, {I'm just|I'm} {looking for|finding} {the email|the paperwork|my reading glasses}"]
_CUST_BACK = ["{ok|right}, {got it|I'm back|found it}{, sorry|, sorry about that|}", "{right|ok}{,|} {I've got it here|it's here}"]
_SILENCE = ["[silence <sil> s]", "[pause <sil> s]", "[no speech <sil> s]"]
_STILL_THERE = [("{are you|you} still there?", "{yes|yeah}{, sorry|}{, still here|, just reading through it}"),
                ("{hello?|hello, are you there?}", "{sorry|yes}, {I'm here|still here}{, the system's just loading|}")]
_AGENT_PROCESS = ["{what I'm doing now is|so right now I'm} {checking|going through} {the logs|the payment history|the account notes|the order history} {for|from} {the last few weeks|<date> onwards}{, it takes a minute|}",
                  "{I'm just|I'm} {cross-checking|comparing} {this|what you've told me} {with|against} {what's on the system|the notes}{, bear with me|}",
                  "{I'm|I am} {filling in|going through} {the form|the checklist} for this{, there are a few questions|}"]
_SPELLING = [("{can you|could you} spell {your surname|the surname} for me?", "{sure|yeah}, <cust_last_spelled>"),
             ("{and|what's} the postcode{ again|}?", "<postcode>"),
             ("{sorry|and}, was that <email>?", "{yes|yep}{, that's it|}")]
_TECH_READ = [("{what does|what's} the {screen|app|display} {say|showing} now?", "{it says|it's showing|the screen says} {connected|no internet|error 40<n_small>|limited connectivity|update available|signed in|loading}{, I think|}"),
              ("{can you|could you} {go into|open} {settings|the menu} and tell me {what you see|what it says}?", "{ok|right}{, it's|. It's} {showing|got} {a list of options|the version number|the network name|some numbers}{, hang on|}"),
              ("{is|are} {the light|the lights} {solid|flashing} or {off|blinking}?", "{solid|flashing} {green|orange|white|red}{ I think|, now}")]
_BILL_WALK = [("{so|ok}, {the first|the next} line is {the monthly fee|usage|a one-off charge|the line rental} {of|at} <small_amount>{, that's normal|}", "{ok|yeah}{, that one's fine|}"),
              ("{then|after that} there's {a credit|an adjustment|a pro rata charge} {for|of} <small_amount>", "{what's that for?|I don't know what that is}"),
              ("{that's|that one is} {for|from} the {part month|change you made} {on|in} <month>", "{ok|oh}{, right|}")]
_COMP_TALK = [("{will I|can I} get {something|any compensation} for {the hassle|all this|my time}?", "{let's|I'll} {see|look at that} {once we've got to the bottom of this|at the end}"),
              ("{this is|it's} taking {forever|ages}{, sorry, I know it's not your fault|}", "{I know|I'm sorry}{, thanks for bearing with me|, we're getting there}")]
_FILL_CAPS = {"attempt_action": 3, "side_topic": 4, "retell": 2, "check": 5, "agent_process": 4, "notes": 3, "cust_checks": 3, "explain": 3, "cause_long": 14, "aside": 2, "smalltalk": 3, "readback": 2, "slow": 2, "policy": 2, "confuser": 3, "poor": 2, "spelling": 2,
              "comp_talk": 2, "backstory": 3, "account_review": 4, "timeline": 3, "bill_walk": 4, "detail": 3, "probe": 3,
              "followup": 3, "plan_review": 1, "recap": 1, "unres_post": 2, "still_there": 2}
_BACKCHANNEL = ["mhm", "ok", "right", "yeah", "I see", "ok, go on", "sure"]
_DISMISS = ["{ok|fine|sigh, ok}", "{ok|right}{, thanks|}", "{fine|ok}{, whatever works|}"]


# Per-speaker habits: discourse markers, tags and preferred words, drawn once per conversation so that each
# speaker sounds consistent while the same act reads differently across conversations.
_PREFIX = {
    "customer": ["so", "ok so", "right", "yeah", "well", "honestly", "look", "I mean", "oh", "ah", "see",
                 "ok", "right so", "yeah so", "um", "hmm", "actually", "listen"],
    "agent": ["ok", "right", "so", "alright", "okay so", "right then", "mm", "understood", "well", "now", "ok so",
              "right, so", "alright then"],
}
_SUFFIX = {
    "customer": [", to be honest", ", if that makes sense", ", you know", " though", ", I think", ", I guess",
                 " to be fair", ", like", ", honestly"],
    "agent": [", just so you know", " at the moment", ", if that makes sense", ", as far as I can see", " on my side",
              " as it stands", ", to be clear"],
}
_SUFFIX_Q = {
    "customer": [", please", " though", ", by any chance", ", do you know", ", or not"],
    "agent": [", if that's ok", " please", ", if you don't mind", ", just to check"],
}
_SHORT_PREFIX = ("oh", "ah", "um", "hmm", "well", "erm", "mm")
_LEXICON: dict[str, tuple[str, tuple[str, ...]]] = {
    "thanks": (r"\bthanks\b", ("thanks", "thank you", "cheers", "ta", "thanks very much", "many thanks")),
    "ok": (r"\bok\b", ("ok", "okay", "alright", "okey dokey", "OK")),
    "great": (r"\bgreat\b", ("great", "brilliant", "lovely", "perfect", "fab", "fantastic", "wonderful", "super")),
    "yeah": (r"\byeah\b", ("yeah", "yes", "yep", "yup", "aye", "uh huh")),
    "sorry": (r"^sorry\b", ("sorry", "apologies", "my apologies", "oh sorry")),
    "no problem": (r"\bno problem\b", ("no problem", "no bother", "not a problem", "no worries")),
    "sure": (r"^sure\b", ("sure", "of course", "certainly", "absolutely", "sure thing")),
    "let me": (r"^let me\b", ("let me", "let me just", "I'll just", "lemme")),
    "hang on": (r"\bhang on\b", ("hang on", "hold on", "one sec", "bear with me")),
}
_RE_LEX = {w: re.compile(pat, re.IGNORECASE) for w, (pat, _) in _LEXICON.items()}


def _end_punct(text: str) -> str:
    return text if text[-1:] in ".?!" else text + "."


class _Writer:
    """Realises one story as turns, and records which turns decide each label."""

    def __init__(self, story: dict[str, Any], slots: dict[str, Any], rng: Random):
        self.s = story
        self.slots = slots
        self.rng = rng
        self.channel = story["channel"]
        self.style = _Style(rng, self.channel, story["persona"])
        self.turns: list[dict[str, Any]] = []
        self.ev: dict[str, list[int]] = {h: [] for h in _EV_HEADS}
        self.tokens = 0
        self.agent_side = "bot" if story["handled_by"] == "ai" else "agent"
        self.effort_log: list[tuple[str, float]] = []
        self.churn_log: list[tuple[str, bool]] = []
        self.repeat_said = 0
        self.cancel_intent = False
        self.verified = False
        self.ended = False
        self.attempts = 0
        self.outcome_at: int | None = None
        self.used: dict[str, dict[str, int]] = {}
        self.all_steps = list(slots["step"])
        self.habits = {
            spk: {
                "prefix": rng.uniform(0.05, 0.35),
                "suffix": rng.uniform(0.0, 0.12),
                "vocative": rng.uniform(0.0, 0.1),
                "prefixes": rng.sample(_PREFIX[spk], 6),
                "suffixes": rng.sample(_SUFFIX[spk], 4),
                "suffixes_q": rng.sample(_SUFFIX_Q[spk], 3),
                "lex": {w: _pick(rng, alts) for w, (_, alts) in _LEXICON.items() if rng.random() < 0.6},
            }
            for spk in ("customer", "agent")
        }
        self.steps_left: list[str] = []

    # -- primitives
    def decorate(self, speaker: str, text: str) -> str:
        """Speaker habits: a discourse marker, a tag, a name, preferred words."""
        h = self.habits.get(speaker)
        if h is None or not text or text.startswith("["):
            return text
        rng = self.rng
        for w, alt in h["lex"].items():
            if alt != w:
                text = _RE_LEX[w].sub(lambda m, a=alt: a if m.group(0)[:1].islower() else a[:1].upper() + a[1:], text)
        core = text.rstrip(".?! ")
        end = "?" if text.rstrip().endswith("?") else ("." if text.rstrip()[-1:] in ".!" else "")
        if not core:
            return text
        long_enough = core.count(" ") >= 3
        if long_enough and rng.random() < h["suffix"] and "\n" not in core:
            core += _pick(rng, h["suffixes_q"] if end == "?" else h["suffixes"])
        if rng.random() < h["vocative"] and "\n" not in core:
            core += ", " + (self.slots["cust_first"] if speaker == "agent" else self.slots["agent"])
        if rng.random() < h["prefix"]:
            first = core[:1]
            keep_cap = core.startswith("I ") or core.startswith("I'")
            pre = _pick(rng, h["prefixes"]) if long_enough else _pick(rng, _SHORT_PREFIX)
            core = pre + ", " + (core if keep_cap else first.lower() + core[1:])
        text = core + end
        return text[:1].upper() + text[1:]

    def add(self, speaker: str, text: str, heads: Sequence[str] = (), extra: float = 0.0, protect: bool = False,
            plain: bool = False) -> int:
        if self.channel != "email" and not plain:
            text = self.decorate(speaker, text)
        styled = self.style.render(speaker, text, protect or bool(heads))
        if not styled.strip():
            styled = "mm"
        idx = len(self.turns)
        self.turns.append({"speaker": speaker, "text": styled, "_extra": extra})
        for h in heads:
            self.ev[h].append(idx)
        self.tokens += len(styled.split())
        return idx

    def say(self, speaker: str, pool: str | Sequence[str], heads: Sequence[str] = (), extra: float = 0.0,
            plain: bool = False) -> int:
        return self.add(speaker, _expand(pool, self.rng, self.slots), heads, extra, plain=plain)

    def system(self, pool: str | Sequence[str], heads: Sequence[str] = (), extra: float = 0.0) -> int:
        return self.add("system", _expand(pool, self.rng, self.slots), heads, extra)

    def effort(self, kind: str, weight: float, idxs: Sequence[int]) -> None:
        self.effort_log.append((kind, weight))
        self.ev["effort"].extend(idxs)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def compose(self, speaker: str, parts: list[tuple[str | Sequence[str], Sequence[str]]], per_turn: int) -> list[int]:
        """Several sentences from one speaker, grouped into one or more turns (chat bursts, long voice turns)."""
        idxs: list[int] = []
        group: list[str] = []
        heads: list[str] = []
        for k, (pool, hs) in enumerate(parts):
            group.append(_end_punct(_expand(pool, self.rng, self.slots)))
            heads.extend(h for h in hs if h not in heads)
            last = k == len(parts) - 1
            if last or len(group) >= per_turn or (self.channel == "chat" and self.chance(0.35)):
                idxs.append(self.add(speaker, " ".join(group), heads))
                if not last and self.channel == "voice" and self.chance(0.5):
                    self.say(self.agent_side if speaker == "customer" else "customer", _BACKCHANNEL)
                group, heads = [], []
        return idxs

    def cause_pool(self, key: str, default: Sequence[str] | None = None) -> Sequence[str]:
        return _pool(self.s["cause"], self.s["sub"], key, default)

    # -- story signals
    def churn_signal(self, speaker: str = "customer") -> list[int]:
        ch = self.s["churn"]
        drv = ch["driver"]
        idxs = [self.say("customer", _CHURN[drv], _CH)]
        self.churn_log.append((drv, True))
        if drv == "cancel_account":
            self.cancel_intent = True
        if ch.get("second_driver"):
            idxs.append(self.say("customer", _CHURN[ch["second_driver"]], _CH))
            self.churn_log.append((ch["second_driver"], True))
        if self.agent_side and self.chance(0.7):
            self.say(self.agent_side, _CHURN_REPLY)
        return idxs

    def churn_negative(self) -> None:
        neg = self.s["churn"]["hard_negative"]
        if neg in (None, "cancel_item"):
            return
        self.say("customer", _CHURN_NEG[neg], _CH)
        self.churn_log.append((neg, False))
        if neg == "price_question":
            self.say(self.agent_side, _PRICE_ANSWER, _CH)
            self.say("customer", _PRICE_ACK, _CH)

    def repeat_signal(self, kind: str) -> None:
        w = 1.0 if self.s["prior_count"] == 1 else 1.5
        if kind == "agent_notes":
            i = self.say(self.agent_side, _REPEAT_AGENT, _RP)
            j = self.say("customer", _REPEAT_AGENT_ACK, _RP)
            idxs = [i, j]
        else:
            idxs = [self.say("customer", _REPEAT[kind], _RP)]
        if self.repeat_said == 0:
            self.effort("prior_contact", w, idxs)
        else:
            self.ev["effort"].extend(idxs)
        self.repeat_said += 1

    def first_negative(self) -> None:
        kind = self.s["repeat"]["first_negative"]
        spk = self.agent_side if kind == "agent_history" else "customer"
        strong = kind in ("first_time", "different_issue", "agent_history")
        self.say(spk, _FIRST_NEG[kind], ("repeat_contact",) if strong else ())

    # -- phases
    def opening(self) -> None:
        voice = self.channel == "voice"
        ev = self.s["events"]
        q = next((e for e in ev if e["type"] == "queue_wait"), None)
        if q:
            self.slots["qmin"] = str(q["minutes"])
            i = self.system(_QUEUE_NOTE_VOICE if voice else _QUEUE_NOTE_CHAT)
            self.effort("queue_wait", q["weight"], [i])
        if self.agent_side == "bot":
            self.say("bot", _GREET_BOT_VOICE if voice else _GREET_BOT_CHAT)
        else:
            if not voice and self.chance(0.3):
                self.add("system", f"[chat started - {self.s['queue']}]")
            self.say("agent", _GREET_AGENT_VOICE if voice else _GREET_AGENT_CHAT, plain=True)

    def issue(self) -> None:
        s = self.s
        parts: list[tuple[Any, Sequence[str]]] = []
        if self.channel != "email" and self.chance(0.35) and self.turns and self.turns[-1]["speaker"] != "customer":
            parts.append((_CUST_HELLO, ()))
        q = next((e for e in s["events"] if e["type"] == "queue_wait"), None)
        if q and q["minutes"] >= 8 and self.chance(0.8) and self.channel != "email":
            parts.append((_QUEUE_COMPLAINT, _E))
        rep = s["repeat"]
        early: list[tuple[Any, Sequence[str]]] = []
        if rep["placement"] == "start":
            for kind in rep["kinds"]:
                if kind != "agent_notes":
                    early.append((_REPEAT[kind], _RP))
        cause_heads: tuple[str, ...] = _CC
        if s["cause"] == "cancellation" and s["sub"] == "main":
            cause_heads = ("contact_cause", "churn_risk")
        main = [(self.cause_pool("frame"), cause_heads)]
        if self.chance(0.4):
            main.append((self.cause_pool("detail", _GENERIC_DETAIL), _CC))
        if s["situation"] and self.chance(0.3):
            main.append((["{by the way|just so you know|also}, <situation>", "<situation>"], ()))
        if self.chance(0.5):
            parts += early + main
        else:
            parts += main + early
        if any(e["type"] == "channel_switch" for e in s["events"]):
            parts.insert(min(len(parts), 1 + self.rng.randrange(2)), (_CHANNEL_SWITCH, _E))
        ch = s["churn"]
        if ch["placement"] == "start" and ch["driver"]:
            parts.append((_CHURN[ch["driver"]], _CH))
        if ch["placement"] == "start" and ch["hard_negative"] in ("loyal", "competitor_fav_stays", "competitor_negative", "vent"):
            parts.append((_CHURN_NEG[ch["hard_negative"]], _CH))
        if rep["first_negative"] and rep["placement"] == "start" and rep["first_negative"] != "agent_history":
            kind = rep["first_negative"]
            parts.append((_FIRST_NEG[kind], ("repeat_contact",) if kind in ("first_time", "different_issue") else ()))
        per_turn = 3 if self.channel == "voice" else 2
        self.compose("customer", parts, per_turn)
        # bookkeeping for what was said in the opening
        for pool, hs in parts:
            if hs == _E and pool is _CHANNEL_SWITCH:
                self.effort_log.append(("channel_switch", 1.0))
            if hs == _RP and self.repeat_said == 0:
                self.effort_log.append(("prior_contact", 1.0 if s["prior_count"] == 1 else 1.5))
            if hs == _RP:
                self.repeat_said += 1
            if hs == _CH and pool in _CHURN.values():
                drv = next(k for k, v in _CHURN.items() if v is pool)
                self.churn_log.append((drv, True))
                if drv == "cancel_account":
                    self.cancel_intent = True
            if hs == _CH and pool in _CHURN_NEG.values():
                self.churn_log.append(("negative", False))
        if cause_heads != _CC:
            self.churn_log.append(("cancel_account", True))
            self.cancel_intent = True
        if ch["placement"] == "start" and ch["driver"] and self.chance(0.6):
            self.say(self.agent_side, _CHURN_REPLY)

    def verification(self) -> None:
        s = self.s
        A = self.agent_side
        if A == "bot":
            self.say("bot", _VERIFY_ASK_BOT)
            self.say("customer", _VERIFY_ANSWER)
            self.say("bot", _VERIFY_OK_BOT)
            self.verified = True
            return
        if self.channel == "chat" and self.chance(0.25) and not any(e["type"] == "reverify" for e in s["events"]):
            self.say(A, _SKIP_VERIFY)
            self.verified = True
            return
        self.say(A, _VERIFY_ASK)
        self.say("customer", _VERIFY_ANSWER)
        fail = next((e for e in s["events"] if e["type"] == "verify_fail"), None)
        if fail:
            i = self.say(A, ["{hmm|sorry}, that doesn't match what I have{, can you try again?|}",
                             "{I'm sorry|sorry}, {that's not matching|I can't match that}{. Is there another email it could be under?|}"])
            j = self.say("customer", ["{what?|really?}{ that's definitely right|}{. ok|,} {try|it might be} <email2>", "{ugh|oh for}{,|} {hang on|one sec}{. try|,} <verify_answer>"])
            k = self.say(A, ["{ok|right}, {that's|got it}{ - sorry about that|}", "{yes|ok}{, found you now|, that's it}"])
            self.effort("verify_fail", fail["weight"], [i, j, k])
        else:
            self.say(A, _VERIFY_OK)
        self.verified = True

    def bot_phase(self) -> None:
        s = self.s
        loops = [e for e in s["events"] if e["type"] == "bot_loop"]
        for e in loops:
            i = self.say("bot", _BOT_FALLBACK)
            j = self.say("customer", _BOT_FALLBACK_REPLY)
            self.effort("bot_loop", e["weight"], [i, j])
        if not loops:
            self.say("bot", ["{I can help with that|Sure, I can help with that|Got it}{.|!}", "{Thanks|OK}. {Let me look into that.|One moment.}"])
        path = s["ai_path"]
        if path == "bot_only":
            if s["cause"] not in _INFO_CAUSES and self.chance(0.7):
                self.verification()
            if s["cause"] in _TECH_LIKE and self.chance(0.6):
                self.seg_attempt()
            self.outcome()
            self.closing()
            return
        if path == "handover_end":
            if self.chance(0.5):
                self.say("bot", _CHECK_GENERIC)
            self.outcome()
            return
        h = next(e for e in s["events"] if e["type"] == "handover")
        self.slots["qmin"] = str(h["minutes"])
        i = self.say("bot", _HANDOVER_BOT)
        self.slots["dept"] = self.s["queue"].split("-", 1)[1] + " team"
        j = self.system(_HANDOVER_NOTE, extra=h["minutes"] * 60.0)
        self.agent_side = "agent"
        self.slots["agent"] = _pick(self.rng, _AGENTS)
        k = self.say("agent", _GREET_AFTER_HANDOVER, plain=True)
        idxs = [i, j, k]
        if h.get("reexplain"):
            idxs.append(self.say("customer", _REEXPLAIN if self.chance(0.5) else _REPEAT_INFO))
        self.effort("handover", h["weight"], idxs)

    # -- segments
    def seg(self, name: str, arg: Any = None) -> None:
        getattr(self, "seg_" + name)(arg) if arg is not None else getattr(self, "seg_" + name)()

    def probe_pair(self) -> tuple[str, str]:
        """A question and the answer that fits it (pools are aligned by position)."""
        qs = self.cause_pool("probe", _GENERIC_PROBE)
        ans = self.cause_pool("answer", _GENERIC_ANSWER)
        if self.chance(0.35) or len(qs) != len(ans):
            qs, ans = _GENERIC_PROBE, _GENERIC_ANSWER
        k = self.rng.randrange(len(qs))
        return qs[k], ans[k]

    def seg_probe(self) -> None:
        q, a = self.probe_pair()
        self.say(self.agent_side, q)
        self.say("customer", a)

    def seg_detail(self) -> None:
        self.say("customer", self.cause_pool("detail", _GENERIC_DETAIL) if self.chance(0.7) else _GENERIC_DETAIL)

    def seg_check(self) -> None:
        self.say(self.agent_side, self.cause_pool("check", _CHECK_GENERIC) if self.chance(0.6) else _CHECK_GENERIC)
        if self.chance(0.6):
            self.say("customer", _CUST_FILLER)

    def seg_attempt(self) -> None:
        A = self.agent_side
        if self.s["cause"] in _TECH_LIKE or (self.s["cause"] in ("card_service", "payment_issue") and self.chance(0.4)):
            if not self.steps_left:
                self.steps_left = list(self.all_steps)
                self.rng.shuffle(self.steps_left)
            self.slots["step"] = self.steps_left.pop()
            self.say(A, self.cause_pool("attempt", _ATTEMPT_STEP) if self.chance(0.3) else _ATTEMPT_STEP)
            self.slots["step"] = self.all_steps
            i = self.say("customer", _ATTEMPT_DO)
            if self.chance(0.45):
                self.say("customer", _ATTEMPT_NEUTRAL)
            else:
                self.say("customer", _ATTEMPT_FAIL)
            self.say(A, _ATTEMPT_NEXT)
            self.attempts += 1
            self.ev.setdefault("_attempts", []).append(i)
        else:
            self.seg_attempt_action()

    def seg_pair(self, pairs: Sequence[tuple[str, str]], first: str, heads: Sequence[str] = ()) -> None:
        a, b = _pick(self.rng, pairs)
        second = "customer" if first != "customer" else self.agent_side
        self.say(first, a, heads)
        self.say(second, b, heads)

    def seg_smalltalk(self) -> None:
        a, b = _pick(self.rng, _SMALLTALK)
        first = "customer" if a.startswith("{sorry") or self.chance(0.5) else self.agent_side
        if self.agent_side == "bot":
            return
        self.say(first, a)
        self.say("customer" if first != "customer" else self.agent_side, b)

    def seg_aside(self) -> None:
        if self.s["situation"]:
            self.say("customer", _ASIDE)
            if self.chance(0.6):
                self.say(self.agent_side, ["{no problem|that's ok|no worries}{, take your time|}", "{oh|ah}{,|} {I understand|fair enough}"])

    def seg_readback(self) -> None:
        self.seg_pair(_READBACK, self.agent_side)

    def seg_slow(self) -> None:
        self.seg_pair(_SLOW, self.agent_side)

    def seg_notes(self) -> None:
        self.seg_pair(_NOTES, self.agent_side)

    def seg_policy(self) -> None:
        self.say(self.agent_side, _POLICY_TALK)
        if self.chance(0.6):
            self.say("customer", _CUST_FILLER)

    def seg_confuser(self) -> None:
        who, text = _pick(self.rng, _CONFUSER)
        self.say("customer" if who == "customer" else self.agent_side, text)

    def seg_poor(self) -> None:
        self.seg_pair(_POOR_AGENT, self.agent_side)

    def seg_no_hold(self) -> None:
        i = self.say(self.agent_side, _NO_HOLD)
        self.ev["effort"].append(i)

    def seg_backstory(self) -> None:
        self.say("customer", _BACKSTORY)
        self.say(self.agent_side, _BACKSTORY_REPLY)

    def seg_account_review(self) -> None:
        self.seg_pair(_ACCOUNT_REVIEW, self.agent_side)

    def seg_timeline(self) -> None:
        self.seg_pair(_TIMELINE, self.agent_side)

    def seg_cust_checks(self) -> None:
        self.say("customer", _CUST_CHECKS)
        sil = self.rng.randrange(8, 60)
        if self.channel == "voice" and self.chance(0.5):
            self.slots["sil"] = str(sil)
            self.system(_SILENCE, extra=sil)
        else:
            self.turns[-1]["_extra"] += sil
        self.say("customer", _CUST_BACK)

    def seg_still_there(self) -> None:
        sil = self.rng.randrange(10, 45)
        self.slots["sil"] = str(sil)
        if self.channel == "voice":
            self.system(_SILENCE, extra=sil)
        else:
            self.turns[-1]["_extra"] += sil
        self.seg_pair(_STILL_THERE, "customer")

    def seg_agent_process(self) -> None:
        self.say(self.agent_side, _AGENT_PROCESS)
        if self.chance(0.5):
            self.say("customer", _CUST_FILLER)

    def seg_spelling(self) -> None:
        self.seg_pair(_SPELLING, self.agent_side)

    def seg_tech_read(self) -> None:
        self.seg_pair(_TECH_READ, self.agent_side)

    def seg_bill_walk(self) -> None:
        self.seg_pair(_BILL_WALK, self.agent_side)

    def seg_attempt_action(self) -> None:
        A = self.agent_side
        self.say(A, _ATTEMPT_ACTION)
        if self.chance(0.5):
            self.say("customer", _CUST_FILLER)
        self.say(A, _ATTEMPT_ACTION_RESULT)

    def seg_side_topic(self) -> None:
        """A second, smaller question raised while the customer has someone on the line."""
        ind = _IND[self.s["industry"]]
        pool = (ind.get("info") or []) + ind.get("inquiry", [])
        if "brands" in ind:
            pool = pool + ind["brands"][self.s["company"]]["info"]
        q, a = _pick(self.rng, pool).split("||")
        self.say("customer", "{while I've got you|oh and|also|one more thing|before I forget}{,| -} " + q + "?")
        self.say(self.agent_side, "{sure|good question|let me check}{,| -} " + a)
        if self.chance(0.5):
            self.say("customer", ["{ok|right|great}{, thanks|, good to know|}", "{ah|oh} {ok|right}"])

    def seg_retell(self) -> None:
        parts = [("{so|ok so|like I said|just to go back to it}, <story>", ()), (self.cause_pool("detail", _GENERIC_DETAIL), ())]
        self.rng.shuffle(parts)
        self.compose("customer", parts, 3)
        if self.chance(0.6):
            self.say(self.agent_side, _BACKSTORY_REPLY)

    def seg_cause_long(self) -> None:
        pairs = _CAUSE_LONG.get(self.s["cause"]) or _CAUSE_LONG["other"]
        self.seg_pair(pairs, self.agent_side)

    def seg_explain(self) -> None:
        self.say(self.agent_side, _CAUSE_EXPLAIN.get(self.s["cause"], _CAUSE_EXPLAIN["_"]) if self.chance(0.6) else _CAUSE_EXPLAIN["_"])
        if self.chance(0.6):
            self.say("customer", ["{ok|right}{, makes sense|, I see|}", "{mm|mhm}{, ok|}", "{right|ok}{, fair enough|, but it's still annoying|}"])

    def seg_comp_talk(self) -> None:
        self.seg_pair(_COMP_TALK, "customer")

    def seg_followup(self) -> None:
        self.seg_pair(_FOLLOWUP_Q, "customer")

    def seg_plan_review(self) -> None:
        self.seg_pair(_PLAN_REVIEW, self.agent_side)

    def seg_recap(self) -> None:
        self.say(self.agent_side, _RECAP, _R)

    def seg_unres_post(self) -> None:
        self.seg_pair(_UNRES_POST, "customer", _R)

    def seg_churn(self) -> None:
        self.churn_signal()

    def seg_churn_neg(self) -> None:
        self.churn_negative()

    def seg_repeat(self, kind: str) -> None:
        self.repeat_signal(kind)

    def seg_first_neg(self) -> None:
        self.first_negative()

    def seg_hold(self, e: dict[str, Any]) -> None:
        A = self.agent_side
        m = e["minutes"]
        secs = int(m * 60)
        self.slots["hold_mss"] = f"{secs // 60}:{secs % 60:02d}"
        self.slots["hold_min"] = _num_words(max(1, round(m)))
        idxs = []
        if self.channel == "voice":
            idxs.append(self.say(A, _HOLD_ASK))
            idxs.append(self.say("customer", _HOLD_OK))
            idxs.append(self.system(_HOLD_NOTE, extra=secs))
            idxs.append(self.say(A, _HOLD_BACK))
            if m >= 4 and self.chance(0.7):
                idxs.append(self.say("customer", _HOLD_LONG_COMPLAINT))
        else:
            idxs.append(self.say(A, _HOLD_ASK_CHAT))
            if self.chance(0.6):
                idxs.append(self.say("customer", _HOLD_OK))
            self.turns[-1]["_extra"] += secs
            if m >= 4:
                idxs.append(self.say("customer", _CHAT_WAIT_PING))
            idxs.append(self.say(A, _HOLD_BACK))
        self.effort("hold", e["weight"], idxs)

    def seg_transfer(self, e: dict[str, Any]) -> None:
        voice = self.channel == "voice"
        self.slots["dept"] = e["dept"]
        self.slots["ring_s"] = str(e["ring_s"])
        idxs = [self.say(self.agent_side, _TRANSFER_ASK), self.say("customer", _DISMISS)]
        idxs.append(self.system(_TRANSFER_NOTE if voice else _TRANSFER_NOTE_CHAT, extra=float(e["ring_s"])))
        self.slots["agent"] = e["agent2"]
        idxs.append(self.say("agent", _GREET_AGENT2, plain=True))
        idxs.append(self.say("customer", _REEXPLAIN))
        self.effort("transfer", e["weight"], idxs)
        if e.get("reverify"):
            i = self.say("agent", _REVERIFY)
            j = self.say("customer", _REVERIFY_ANSWER)
            self.effort("reverify", 1.0, [i, j])

    def seg_reverify(self, e: dict[str, Any]) -> None:
        i = self.say(self.agent_side, _REVERIFY)
        j = self.say("customer", _REVERIFY_ANSWER)
        self.effort("reverify", e["weight"], [i, j])

    def seg_repeat_info(self, e: dict[str, Any]) -> None:
        idxs = []
        if self.chance(0.6):
            idxs.append(self.say(self.agent_side, ["{sorry, can I|can I just} {take|get} the {order|reference} number again?",
                                                  "{sorry|apologies}, {what was|can you tell me} {the issue|the problem} again?"]))
        idxs.append(self.say("customer", _REPEAT_INFO))
        self.effort("repeat_info", e["weight"], idxs)

    # -- body planning
    def _fill_pool(self, phase: str) -> list[tuple[str, float]]:
        s = self.s
        long = s["long"]
        if phase == "pre":
            tech = s["cause"] in _TECH_LIKE
            pool = [("probe", 2.0), ("check", 1.5), ("attempt", 3.0) if tech else ("attempt_action", 1.0), ("detail", 1.0), ("smalltalk", 0.8),
                    ("aside", 0.5), ("readback", 0.6), ("slow", 0.5), ("notes", 0.6), ("policy", 0.5), ("confuser", 1.0),
                    ("agent_process", 1.0), ("timeline", 0.8), ("backstory", 0.8), ("account_review", 0.7),
                    ("cust_checks", 0.6), ("spelling", 0.4), ("cause_long", 2.5), ("explain", 0.8), ("retell", 0.6)]
            if long:
                pool.append(("side_topic", 1.2))
            if tech:
                pool.append(("tech_read", 2.0))
            if s["cause"] in ("billing_error", "pricing_promo", "refund", "payment_issue"):
                pool.append(("bill_walk", 1.5))
            if long:
                pool += [("comp_talk", 0.5), ("still_there", 0.5)]
            if s["competence"] == "poor":
                pool.append(("poor", 1.0))
            return pool
        pool = [("smalltalk", 1.0), ("aside", 0.6), ("readback", 0.8), ("notes", 0.5), ("followup", 1.4), ("spelling", 0.4),
                ("account_review", 0.6), ("side_topic", 1.0)]
        if not s["churn"]["at_risk"]:
            pool.append(("plan_review", 0.5))
        if s["resolution"] in ("resolved", "escalated"):
            pool.append(("recap", 0.4))
        else:
            pool.append(("unres_post", 0.7))
        return pool

    def fill(self, phase: str, goal: float, scheduled: Sequence[tuple[str, Any]] = ()) -> None:
        """Neutral segments until the conversation reaches its length; repeated kinds get rarer, some are capped.

        ``scheduled`` segments (holds, transfers, churn or repeat remarks) are spread over the stretch at random
        token positions, so a long call does not put all its holds at the start.
        """
        base = self._fill_pool(phase)
        used = self.used.setdefault(phase, {})
        start = self.tokens
        marks = sorted(self.rng.uniform(start, max(start, goal)) for _ in scheduled)
        queue = list(zip(marks, scheduled))
        guard = 0
        while guard < 3000:
            guard += 1
            while queue and self.tokens >= queue[0][0]:
                name, arg = queue.pop(0)[1]
                self.seg(name, arg)
            if self.tokens >= goal:
                break
            pool = [(name, w / (1 + used.get(name, 0)) ** 1.2) for name, w in base
                    if used.get(name, 0) < _FILL_CAPS.get(name, 10_000)]
            if not pool:
                if phase == "pre":
                    pool = [("cause_long", 2.0), ("side_topic", 1.0), ("smalltalk", 0.6), ("agent_process", 0.4)]
                    if self.s["cause"] in _TECH_LIKE:
                        pool.append(("attempt", 1.5))
                else:
                    pool = [("side_topic", 1.0), ("smalltalk", 1.0), ("account_review", 0.5), ("readback", 0.3)]
            name = _wpick(self.rng, pool)
            used[name] = used.get(name, 0) + 1
            self.seg(name)
        for _, (name, arg) in queue:
            self.seg(name, arg)

    def body(self) -> None:
        s = self.s
        rng = self.rng
        plan = s["evidence_plan"]
        effort_segs: list[tuple[str, Any]] = []
        for e in s["events"]:
            if e["type"] in ("hold", "transfer", "reverify", "repeat_info"):
                effort_segs.append((e["type"], e))
        rng.shuffle(effort_segs)
        signals: list[tuple[str, Any]] = []
        ch = s["churn"]
        if ch["driver"] and ch["placement"] == "middle":
            signals.append(("churn", None))
        if ch["hard_negative"] and ch["placement"] == "middle":
            signals.append(("churn_neg", None))
        rep = s["repeat"]
        if rep["placement"] == "middle":
            signals += [("repeat", k) for k in rep["kinds"]]
        if rep["first_negative"] and rep["placement"] == "middle":
            signals.append(("first_neg", None))
        first: list[tuple[str, Any]] = [("probe", None)]
        if rep["placement"] == "start" and "agent_notes" in rep["kinds"]:
            first.insert(0, ("repeat", "agent_notes"))
        extras: list[tuple[str, Any]] = []
        if s["cause"] in _TECH_LIKE:
            extras += [("attempt", None)] * rng.randrange(1, 3)
        for name, p in (("check", 0.6), ("detail", 0.3), ("confuser", 0.35), ("smalltalk", 0.15), ("aside", 0.15)):
            if self.chance(p):
                extras.append((name, None))
        if not any(t in ("hold", "transfer") for t, _ in effort_segs) and self.chance(0.15):
            extras.append(("no_hold", None))
        target = s["target_tokens"]
        tail = 140 if s["long"] else 50
        for name, arg in first:
            self.seg(name, arg)
        if plan == "start":
            pre, post = effort_segs, extras + signals
        elif plan == "middle":
            mixed = extras + signals
            rng.shuffle(mixed)
            half = len(mixed) // 2
            pre, post = effort_segs + mixed[:half], mixed[half:]
        else:
            pre, post = effort_segs + extras + signals, []
        rng.shuffle(pre)
        post = [x for x in post if x[0] in ("smalltalk", "aside", "churn", "churn_neg", "repeat", "first_neg")]
        goal = {"start": 0, "middle": target * 0.45}.get(plan, target - tail)
        self.fill("pre", goal, pre)
        self.outcome()
        if self.ended:
            return
        self.fill("post", target - 40 if plan in ("start", "middle") else 0, post)
        self.closing()

    # -- outcome
    def outcome(self) -> None:
        s = self.s
        A = self.agent_side
        mode = s["resolution_mode"]
        sl = self.slots
        fix = self.cause_pool("fix")
        confirm = self.cause_pool("confirm", _GENERIC_CONFIRM)
        still = self.cause_pool("still")
        self.outcome_at = len(self.turns)
        if mode in ("fix_confirm", "cancel_done", "info"):
            self.say(A, fix, _R)
            self.say("customer", confirm, _R)
            if self.chance(0.3) and A != "bot":
                self.say(A, _AGENT_GLAD, _R)
        elif mode == "fix_after_fail":
            self.say(A, _CLAIM if self.chance(0.5) else fix)
            self.say("customer", still)
            self.say(A, ["{ok|right|hmm}, {one more thing|let me try something else|let's try it another way}",
                         "{that's odd|strange}{. Let me|, let me} {try|check} {one more thing|something}"])
            self.say(A, fix, _R)
            if self.chance(0.5):
                self.say("customer", _CHECKING)
            self.say("customer", confirm, _R)
        elif mode == "claim_verify":
            self.say(A, [f + "{. Can you check?|, can you have a look?|. Have a look now|}" for f in fix] if self.chance(0.7) else _CLAIM, _R)
            if self.chance(0.7):
                self.say("customer", _CHECKING)
            self.say("customer", confirm, _R)
        elif mode == "grudging":
            self.say(A, fix, _R)
            self.say("customer", [c + "{. About time|. Took long enough|, but that took far too long}" for c in confirm], _R)
        elif mode == "retained":
            self.say(A, _RETAIN_OFFER, _R)
            self.say("customer", _RETAIN_ACCEPT, _R)
            self.say(A, "{great|lovely}, {I've|I have} {applied|added} that{ to your account|}{, you'll see it on the next bill|}", _R)
        elif mode == "policy_no":
            self.say(A, self.cause_pool("cannot"), _R)
            self.say("customer", _CANNOT_REACT, _R)
            if self.chance(0.5):
                self.say(A, _CANNOT_SORRY, _R)
            if self.chance(0.4):
                self.say(A, _CASE_REF)
        elif mode == "claim_contradict":
            self.say(A, fix if self.chance(0.6) else _CLAIM, _R)
            if self.chance(0.5):
                self.say("customer", _CHECKING)
            self.say("customer", still, _R)
            self.say(A, _DEFER, _R)
            if self.chance(0.7):
                self.say("customer", _DEFER_ACK, _R)
        elif mode == "no_more_ideas":
            self.say(A, _NO_IDEAS, _R)
            self.say("customer", _THANKS_POLITE if self.chance(0.5) else _DEFER_ACK, _R)
        elif mode == "gave_up":
            if self.chance(0.5):
                self.say(A, _ATTEMPT_ACTION_RESULT)
            self.say("customer", _GIVE_UP, _R)
            self.system(_END_NOTES_CUST_LEFT, _R)
            self.ended = True
        elif mode == "dropped":
            self.system(_DROP_NOTE, _R)
            self.ended = True
        elif mode == "pending_customer":
            self.say(A, _PENDING_ASK, _R)
            self.say("customer", _PENDING_REPLY, _R)
        elif mode == "bot_fail":
            self.say("bot", _BOT_FAIL, _R)
            self.say("customer", _BOT_FAIL_REACT, _R)
            self.system(_END_NOTES_CUST_LEFT, _R)
            self.ended = True
        elif mode == "ticket":
            if self.chance(0.6):
                self.say(A, self.cause_pool("esc"), _R)
            self.say(A, _ESC_TICKET, _R)
            self.say("customer", _ESC_ACK, _R)
            if self.chance(0.5):
                self.say(A, _ESC_CONFIRM, _R)
        elif mode == "transfer_end":
            if self.chance(0.5):
                self.say(A, self.cause_pool("esc"), _R)
            self.say(A, _ESC_TRANSFER, _R)
            self.say("customer", _DISMISS)
            self.system(_ESC_TRANSFER_NOTE if self.channel == "voice" else _ESC_TRANSFER_NOTE_CHAT, _R)
            self.ended = True
        elif mode == "supervisor":
            self.say(A, _ESC_SUPERVISOR, _R)
            self.say("customer", _ESC_ACK, _R)
        elif mode == "field":
            self.say(A, _ESC_FIELD, _R)
            self.say("customer", _ESC_FIELD_ACK, _R)
        elif mode == "bot_handover_end":
            self.say("bot", _BOT_HANDOVER_END, _R)
            self.system(_BOT_HANDOVER_END_NOTE, _R)
            self.ended = True
        else:  # pragma: no cover - story sampling only produces the modes above
            raise ValueError(f"unknown resolution mode {mode!r}")
        if s["resolution"] == "resolved":
            sl["recap"] = _expand(fix, self.rng, sl).rstrip(".")
            if not sl["recap"].startswith(("I ", "I'")):
                sl["recap"] = sl["recap"][0].lower() + sl["recap"][1:]
        elif s["resolution"] == "escalated":
            sl["recap"] = _expand("<team> will {be in touch|call you|pick it up} {within a few days|shortly|as soon as they can}{, reference <case_no>|}", self.rng, sl, cap=False)

    def closing(self) -> None:
        if self.ended:
            return
        s = self.s
        A = self.agent_side
        ch, rep = s["churn"], s["repeat"]
        if ch["driver"] and ch["placement"] == "end":
            self.churn_signal()
        if ch["hard_negative"] and ch["placement"] == "end":
            self.churn_negative()
        if rep["placement"] == "end":
            for k in rep["kinds"]:
                self.repeat_signal(k)
        if rep["first_negative"] and rep["placement"] == "end":
            self.first_negative()
        if A == "bot":
            self.say("bot", ["Is there anything else I can help with?", "Can I help with anything else today?"])
            self.say("customer", _NOTHING_ELSE if self.chance(0.7) else ["{no|nah}", "no thanks"])
            self.say("bot", _BYE_BOT)
            return
        score = sum(w for _, w in self.effort_log)
        if s["resolution"] == "resolved" and score < 0.5 and self.chance(0.35):
            self.say("customer", _QUICK, _E)
        if self.chance(0.8):
            self.say(A, _ANYTHING_ELSE)
        r = s["resolution"]
        if r == "unresolved" and self.chance(0.45):
            self.say("customer", _THANKS_POLITE)
        elif r == "resolved" and self.chance(0.15):
            self.say("customer", _GRUMBLE)
        elif r == "escalated" and self.chance(0.3):
            self.say("customer", "{ok|right}{,|} {I'll wait to hear from them|I'll wait for the call}{ then|}")
        else:
            self.say("customer", _NOTHING_ELSE)
        if self.chance(0.85):
            self.say(A, _BYE_AGENT, plain=True)
        if self.chance(0.55):
            self.say("customer", _BYE_CUST)

    # -- whole conversations
    def dialogue(self) -> None:
        s = self.s
        self.opening()
        if self.agent_side == "agent" and self.channel == "voice" and self.chance(0.35):
            self.say("customer", _CUST_HELLO)
            self.verification()
        self.issue()
        if s["handled_by"] == "ai":
            self.bot_phase()
            if s["ai_path"] != "handover_mid":
                return
        if self.chance(0.7):
            self.say(self.agent_side, _EMPATHY)
        if not self.verified:
            self.verification()
        self.body()

    def email(self) -> None:
        """Email threads: a few long messages; the same story acts, written as paragraphs."""
        s = self.s
        sl = self.slots
        rng = self.rng
        sign_c = ["Thanks,\n<cust_first>", "Regards,\n<cust_full>", "Many thanks\n<cust_first>", "<cust_first>\n\nSent from my phone", "Cheers,\n<cust_first>"]
        sign_a = "{Kind regards|Best wishes|Many thanks|Regards},\n<agent>\n<company> {Customer Care|Support|Customer Services}"
        hello_a = "Hi <cust_first>,\n\n{Thank you for your email|Thanks for getting in touch|Thank you for contacting us}{ and sorry for the delay in replying| and apologies for the wait|}."

        def msg(speaker: str, paras: list[tuple[Any, Sequence[str]]], greet: str, sign: Any, extra_h: float) -> int:
            texts = [_expand(greet, rng, sl)] if greet else []
            heads: list[str] = []
            for pool, hs in paras:
                texts.append(_end_punct(_expand(pool, rng, sl)))
                heads.extend(h for h in hs if h not in heads)
            texts.append(_expand(sign, rng, sl))
            idx = self.add(speaker, "\n\n".join(texts), heads)
            self.turns[idx]["_before"] = extra_h * 3600.0
            return idx

        types = {e["type"]: e for e in s["events"]}
        # customer's first email
        parts: list[tuple[Any, Sequence[str]]] = []
        cause_heads = ("contact_cause", "churn_risk") if (s["cause"] == "cancellation" and s["sub"] == "main") else _CC
        parts.append((self.cause_pool("frame"), cause_heads))
        if cause_heads != _CC:
            self.churn_log.append(("cancel_account", True))
            self.cancel_intent = True
        parts.append((self.cause_pool("detail", _GENERIC_DETAIL), _CC))
        rep, ch = s["repeat"], s["churn"]
        if rep["kinds"]:
            for k in rep["kinds"]:
                if k != "agent_notes":
                    parts.insert(rng.randrange(len(parts) + 1), (_REPEAT[k], _RP))
            self.effort_log.append(("prior_contact", 1.0 if s["prior_count"] == 1 else 1.5))
            self.repeat_said += 1
        elif rep["first_negative"] in ("first_time", "different_issue", "told_by_other", "order_ref"):
            parts.append((_FIRST_NEG[rep["first_negative"]], ("repeat_contact",) if rep["first_negative"] in ("first_time", "different_issue") else ()))
        if "channel_switch" in types:
            parts.append((_CHANNEL_SWITCH, _E))
            self.effort_log.append(("channel_switch", 1.0))
        if ch["driver"]:
            parts.append((_CHURN[ch["driver"]], _CH))
            self.churn_log.append((ch["driver"], True))
            if ch["driver"] == "cancel_account":
                self.cancel_intent = True
        elif ch["hard_negative"] in ("loyal", "competitor_fav_stays", "competitor_negative", "vent", "price_question"):
            parts.append((_CHURN_NEG[ch["hard_negative"]], _CH))
            self.churn_log.append(("negative", False))
        greet_c = _pick(rng, ["Hi,", "Hello,", "Dear <company> team,", "To whom it may concern,", "Hi there,", ""])
        msg("customer", parts, greet_c, sign_c, 0)
        wait_h = rng.uniform(3, 30)
        if "queue_wait" in types:
            wait_h = float(types["queue_wait"]["hours"])
        # agent asks a question, customer answers
        if self.chance(0.55) or "repeat_info" in types or "reverify" in types or "transfer" in types:
            paras: list[tuple[Any, Sequence[str]]] = [(_EMPATHY, ())]
            if "transfer" in types:
                sl["dept"] = types["transfer"]["dept"]
                paras.append(("I've {forwarded|passed} your email to <dept>{, who look after this|}. {They'll|Someone from the team will} {reply|be in touch} {shortly|soon}", _E))
                self.effort("transfer", types["transfer"]["weight"], [len(self.turns)])
            if "reverify" in types:
                paras.append(("{For security|Before we can go further}, {please|could you} {confirm|reply with} <verify_ask>", _E))
                self.effort("reverify", types["reverify"]["weight"], [len(self.turns)])
            q_email, a_email = self.probe_pair()
            paras.append((q_email, ()))
            msg("agent", paras, hello_a, sign_a, wait_h)
            rparas: list[tuple[Any, Sequence[str]]] = []
            if "queue_wait" in types:
                rparas.append(("{It took|That's} {<qmin> hours|days} to get a reply{, which isn't great|}. ", _E))
                sl["qmin"] = str(int(wait_h))
                self.effort("slow_reply", types["queue_wait"]["weight"], [len(self.turns)])
            if "repeat_info" in types:
                rparas.append((["{As I said|Like I said} in my {first|last} email, <summary>", "{I've already explained this|I already said}: <summary>"], _E))
                self.effort("repeat_info", types["repeat_info"]["weight"], [len(self.turns)])
            if "reverify" in types:
                rparas.append(("<verify_answer>{, again|}", ()))
            rparas.append((a_email, ()))
            msg("customer", rparas, _pick(rng, ["Hi,", "Hello <agent>,", "Hi <agent>,", ""]), sign_c, rng.uniform(1, 20))
        # outcome email
        mode = s["resolution_mode"]
        r = s["resolution"]
        fix = self.cause_pool("fix")
        if r == "resolved":
            body = [(fix, _R)] if mode != "retained" else [(_RETAIN_OFFER, _R)]
        elif mode in ("claim_contradict",):
            body = [(fix, _R)]
        elif r == "unresolved":
            body = [(self.cause_pool("cannot") if mode == "policy_no" else (_PENDING_ASK if mode == "pending_customer" else _NO_IDEAS), _R)]
        else:
            body = [(self.cause_pool("esc"), _R), (_ESC_TICKET, _R)]
        msg("agent", body, hello_a, sign_a, rng.uniform(2, 40))
        last: list[tuple[Any, Sequence[str]]] = []
        if r == "resolved":
            last = [(_RETAIN_ACCEPT if mode == "retained" else self.cause_pool("confirm", _GENERIC_CONFIRM), _R)]
        elif mode == "claim_contradict":
            last = [(still, _R) for still in [self.cause_pool("still")]]
        elif r == "unresolved":
            last = [(_CANNOT_REACT if mode == "policy_no" else (_PENDING_REPLY if mode == "pending_customer" else _THANKS_POLITE), _R)]
        elif self.chance(0.6):
            last = [(_ESC_ACK, _R)]
        if last:
            msg("customer", last, _pick(rng, ["Hi,", "Hello,", ""]), sign_c, rng.uniform(0.5, 30))
            if mode == "claim_contradict":
                msg("agent", [(_DEFER, _R)], hello_a, sign_a, rng.uniform(2, 30))


def _merge_segments(w: "_Writer", rng: Random, p: float = 0.7) -> None:
    """Voice transcripts: most consecutive segments of one speaker come out as one turn (diarisation)."""
    new: list[dict[str, Any]] = []
    index: list[int] = []
    for turn in w.turns:
        prev = new[-1] if new else None
        if (prev is not None and prev["speaker"] == turn["speaker"] and turn["speaker"] in ("customer", "agent")
                and rng.random() < p):
            prev["text"] = prev["text"] + " " + turn["text"]
            prev["_extra"] += turn["_extra"]
        else:
            new.append(dict(turn))
        index.append(len(new) - 1)
    w.turns = new
    for h, idxs in w.ev.items():
        w.ev[h] = [index[i] for i in idxs]


def _assign_times(turns: list[dict[str, Any]], channel: str, rng: Random) -> float:
    """start_s per turn: speech at about 2.5 words a second on voice, typing and reading time on chat, hours on email."""
    t = 0.0
    for k, turn in enumerate(turns):
        if k:
            t += turn.pop("_before", 0.0)
        else:
            turn.pop("_before", None)
        turn["start_s"] = round(t, 2)
        n = len(turn["text"].split())
        sp = turn["speaker"]
        if channel == "voice":
            dur = n / rng.uniform(2.6, 3.4) + rng.uniform(0.2, 0.9)
        elif channel == "chat":
            if sp == "customer":
                dur = n / rng.uniform(0.6, 1.2) + rng.uniform(3, 40)
            elif sp == "agent":
                dur = n / rng.uniform(1.5, 3.0) + rng.uniform(5, 60)
            else:
                dur = rng.uniform(0.8, 3.0)
        else:
            dur = 0.0
        t += dur + turn.pop("_extra", 0.0)
    return t


# ------------------------------------------------------------------------------------ story sampling

_OUTCOME_TABLE = {
    ("good", "standard"): (0.80, 0.08, 0.12), ("average", "standard"): (0.62, 0.20, 0.18),
    ("poor", "standard"): (0.35, 0.45, 0.20), ("good", "restricted"): (0.30, 0.15, 0.55),
    ("average", "restricted"): (0.20, 0.25, 0.55), ("poor", "restricted"): (0.10, 0.40, 0.50),
    ("good", "forbids"): (0.12, 0.60, 0.28), ("average", "forbids"): (0.08, 0.70, 0.22),
    ("poor", "forbids"): (0.05, 0.80, 0.15),
}
_ENDING_MODES = ("gave_up", "dropped", "transfer_end", "bot_handover_end", "bot_fail")
_POLICY_TEXT = {
    "standard": "agent may fix it directly",
    "restricted": "fix needs approval from another team",
    "forbids": "policy does not allow what the customer asks",
}


def _effort_label(score: float) -> str:
    return "low" if score < 1.0 else ("medium" if score < 2.5 else "high")


def _sample_mode(r: Random, story: dict[str, Any]) -> str:
    res, cause, sub = story["resolution"], story["cause"], story["sub"]
    bot = story["handled_by"] == "ai" and story["ai_path"] == "bot_only"
    email = story["channel"] == "email"
    tech = cause in _TECH_LIKE
    if res == "resolved":
        if cause == "cancellation" and sub == "main":
            return _wpick(r, [("cancel_done", 0.65), ("retained", 0.35)])
        if cause in _INFO_CAUSES:
            return _wpick(r, [("info", 0.8), ("grudging", 0.2)])
        if bot:
            return _wpick(r, [("fix_confirm", 0.7), ("claim_verify", 0.3)])
        return _wpick(r, [("fix_confirm", 0.4), ("fix_after_fail", 0.35 if tech else 0.2), ("claim_verify", 0.2), ("grudging", 0.12)])
    if res == "unresolved":
        if bot:
            return _wpick(r, [("bot_fail", 0.5), ("policy_no", 0.25), ("claim_contradict", 0.25)])
        opts = [("policy_no", 0.3), ("claim_contradict", 0.35 if story["competence"] == "poor" else 0.2),
                ("no_more_ideas", 0.17), ("pending_customer", 0.12)]
        if not email:
            opts += [("gave_up", 0.08), ("dropped", 0.03)]
        return _wpick(r, opts)
    if story["handled_by"] == "ai" and story["ai_path"] == "handover_end":
        return "bot_handover_end"
    opts = [("ticket", 0.5), ("supervisor", 0.15)]
    if not email:
        opts.append(("transfer_end", 0.18))
    if cause == "technical_fault" and story["industry"] in ("telecom", "utilities"):
        opts.append(("field", 0.3))
    return _wpick(r, opts)


def _sample_events(r: Random, story: dict[str, Any], ind: dict[str, Any]) -> list[dict[str, Any]]:
    """Effort events; each one is written into the text and weighs into the effort label."""
    ch, ai, long = story["channel"], story["handled_by"] == "ai", story["long"]
    poor = story["competence"] == "poor"
    prior = story["prior_count"] > 0
    ev: list[dict[str, Any]] = []
    if ch == "email":
        if r.random() < 0.25:
            hours = r.choice((30, 48, 72, 96, 120))
            ev.append({"type": "queue_wait", "hours": hours, "weight": 1.0 if hours < 60 else 1.5})
        if r.random() < 0.1 + (0.25 if prior else 0):
            ev.append({"type": "channel_switch", "weight": 1.0})
        for t, p in (("transfer", 0.1), ("reverify", 0.08), ("repeat_info", 0.1 + (0.2 if prior else 0))):
            if r.random() < p:
                ev.append({"type": t, "weight": 1.5 if t == "transfer" else 1.0, "dept": _pick(r, ind["depts"])})
        return ev
    human_part = not ai or story["ai_path"] == "handover_mid"
    if not ai and r.random() < (0.28 if ch == "voice" else 0.12):
        m = int(2 + 43 * r.random() ** 2) if ch == "voice" else int(2 + 18 * r.random() ** 2)
        ev.append({"type": "queue_wait", "minutes": m, "weight": 0.5 if m < 8 else (1.0 if m < 20 else 1.5)})
    if r.random() < 0.07 + (0.25 if prior else 0):
        ev.append({"type": "channel_switch", "weight": 1.0})
    if ai:
        for _ in range(_wpick(r, [(0, 0.65), (1, 0.25), (2, 0.1)])):
            ev.append({"type": "bot_loop", "weight": 0.7})
        if story["ai_path"] == "handover_mid":
            m = round(r.uniform(0.3, 12), 1)
            re = r.random() < 0.4
            ev.append({"type": "handover", "minutes": m, "reexplain": re, "weight": 0.5 + (0.5 if m >= 5 else 0) + (0.5 if re else 0)})
    if not human_part:
        return ev
    if not ai and r.random() < 0.1 + (0.15 if poor else 0):
        ev.append({"type": "verify_fail", "weight": 1.0})
    if long:
        n_hold = r.randrange(2, 5)
    elif ch == "voice":
        n_hold = _wpick(r, [(0, 0.5), (1, 0.3), (2, 0.14), (3, 0.06)])
    else:
        n_hold = _wpick(r, [(0, 0.65), (1, 0.27), (2, 0.08)])
    if poor and r.random() < 0.4:
        n_hold += 1
    for _ in range(n_hold):
        kind = _wpick(r, [("short", 0.55 if not long else 0.4), ("medium", 0.3 if not long else 0.4), ("long", 0.15 if not long else 0.2)])
        m = {"short": r.uniform(0.4, 1.8), "medium": r.uniform(2, 6 if not long else 4.5), "long": r.uniform(6, 8 if long else 18)}[kind]
        ev.append({"type": "hold", "minutes": round(m, 1), "weight": 0.3 if m < 2 else (0.8 if m < 6 else 1.3)})
    p_tr = 0.75 if long else ((0.12 + (0.1 if poor else 0)) if ch == "voice" else 0.06)
    n_tr = (1 + (r.random() < 0.35)) if (r.random() < p_tr) else 0
    for _ in range(n_tr):
        ev.append({"type": "transfer", "weight": 1.5, "dept": _pick(r, ind["depts"]), "agent2": _pick(r, _AGENTS),
                   "ring_s": r.randrange(15, 120), "reverify": r.random() < 0.35})
    if r.random() < 0.05:
        ev.append({"type": "reverify", "weight": 1.0})
    if r.random() < 0.08 + (0.15 if n_tr else 0):
        ev.append({"type": "repeat_info", "weight": 1.0})
    return ev


def _sample_churn(r: Random, story: dict[str, Any]) -> dict[str, Any]:
    cause, sub, prior = story["cause"], story["sub"], story["prior_count"]
    ch: dict[str, Any] = {"driver": None, "second_driver": None, "at_risk": False, "hard_negative": None, "placement": None}
    if cause == "cancellation" and sub == "main":
        ch.update(driver="cancel_account", at_risk=True, placement="issue")
        return ch
    pricey = cause in ("billing_error", "pricing_promo")
    p = 0.1 + 0.2 * (prior >= 1) + 0.15 * (prior >= 2) + 0.1 * (cause in ("billing_error", "pricing_promo", "technical_fault"))
    p += 0.08 * (story["resolution"] != "resolved")
    placement = _wpick(r, [("start", 0.35), ("middle", 0.45), ("end", 0.2)])
    if r.random() < p:
        drivers = [("threat", 0.3), ("competitor", 0.25), ("price", 0.4 if pricey else 0.15),
                   ("repeated_failures", 0.3 if prior else 0.05), ("cancel_account", 0.15)]
        d = _wpick(r, drivers)
        ch.update(driver=d, at_risk=True, placement=placement)
        if r.random() < 0.2:
            d2 = _wpick(r, [x for x in drivers if x[0] not in (d, "cancel_account")])
            ch["second_driver"] = d2
        return ch
    ch["placement"] = placement
    if (cause, sub) in (("order_change", "cancel"), ("reservation_change", "cancel"), ("cancellation", "addon")):
        ch["hard_negative"] = "cancel_item"
    elif r.random() < 0.35:
        ch["hard_negative"] = _wpick(r, [("loyal", 0.3), ("competitor_fav_stays", 0.25), ("competitor_negative", 0.15),
                                         ("price_question", 0.3 if pricey else 0.05), ("vent", 0.2)])
    return ch


def _sample_repeat(r: Random, story: dict[str, Any]) -> dict[str, Any]:
    rep: dict[str, Any] = {"kinds": [], "placement": None, "first_negative": None}
    bot_path = story["handled_by"] == "ai" and story["ai_path"] != "handover_mid"
    if story["prior_count"] > 0:
        prev_out = story["prior"].get("previous_outcome")
        if prev_out == "escalated":
            pool = [("callback", 0.3), ("promise", 0.2), ("count", 0.2), ("called_before", 0.15), ("ref", 0.1), ("agent_notes", 0.1), ("family", 0.04)]
        else:
            pool = [("count", 0.25), ("called_before", 0.27), ("promise", 0.2), ("ref", 0.12), ("agent_notes", 0.12), ("family", 0.06)]
        if bot_path or story["channel"] == "email":
            pool = [x for x in pool if x[0] != "agent_notes"]
        k1 = _wpick(r, pool)
        kinds = [k1]
        if r.random() < 0.3:
            rest = [x for x in pool if x[0] != k1]
            kinds.append(_wpick(r, rest))
        rep["kinds"] = kinds
        rep["placement"] = "start" if bot_path else _wpick(r, [("start", 0.6), ("middle", 0.3), ("end", 0.1)])
        return rep
    p = 0.6 if story.get("reused_customer") else 0.25
    if r.random() < p:
        opts = [("first_time", 0.25), ("different_issue", 0.25 if not story.get("reused_customer") else 1.0), ("told_by_other", 0.2),
                ("order_ref", 0.15), ("agent_history", 0.15 if not bot_path else 0.0)]
        rep["first_negative"] = _wpick(r, opts)
        rep["placement"] = "start" if bot_path else _wpick(r, [("start", 0.6), ("middle", 0.3), ("end", 0.1)])
    return rep


def _public_story(story: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in story.items() if not k.startswith("_")}


class _Generator:
    """Samples stories one after another; keeps the open (unresolved) contacts that repeats can follow up."""

    def __init__(self, n: int, seed: int, cfg: SynthConfig):
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        self.n, self.seed, self.cfg = n, seed, cfg
        self.industry_weights = tuple((k, w) for k, w in _INDUSTRY_WEIGHTS if k in cfg.industries)
        self.rng = Random(seed)
        d = date.fromisoformat(str(cfg.start_date))
        self.t0 = datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        self.open: list[dict[str, Any]] = []
        self.customers: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}
        self.n_repeat = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n):
            yield self.one(i)

    def _start_time(self, r: Random, channel: str) -> datetime:
        day = r.randrange(self.cfg.window_days)
        if channel == "voice":
            hour = r.uniform(8, 20.5)
        elif channel == "chat":
            hour = _wpick(r, [(r.uniform(7, 23), 0.9), (r.uniform(0, 7), 0.1)])
        else:
            hour = r.uniform(0, 24)
        return self.t0 + timedelta(days=day, seconds=int(hour * 3600))

    def one(self, i: int) -> dict[str, Any]:
        cfg = self.cfg
        r = Random(self.rng.getrandbits(64))
        prev = None
        if self.open and self.n_repeat < cfg.repeat_share * (i + 1) and self.rng.random() < 0.9:
            prev = self.open.pop(self.rng.randrange(len(self.open)))
            self.n_repeat += 1
        story: dict[str, Any] = {}
        if prev:
            ps = prev["story"]
            cust = prev["cust"]
            story.update(industry=ps["industry"], company=ps["company"], cause=ps["cause"], sub=ps["sub"])
            long = ps["cause"] in _LONG_CAUSES and r.random() < min(1.0, cfg.long_share / 0.6)
            gap_h = r.uniform(max(2.5, prev["duration_h"] + 1.0), 150.0)
            prior = {"count": ps["prior_count"] + 1, "in_file": True, "previous_id": prev["id"],
                     "previous_outcome": ps["resolution"], "hours_since_previous": round(gap_h, 1)}
            story["prior_count"] = prior["count"]
            story["_when"] = _when_phrases(gap_h, prev["started"])
            story["prev_team"] = ps["team_esc"]
            started_fixed: datetime | None = prev["started"] + timedelta(seconds=int(gap_h * 3600))
            reused = False
        else:
            reused = bool(self.customers) and r.random() < 0.05
            exclude: list[str] = []
            if reused:
                c = _pick(r, self.customers)
                cust, industry, company = c["cust"], c["industry"], c["company"]
                exclude = c["causes"]
            else:
                industry = _wpick(r, self.industry_weights)
                company = _pick(r, _IND[industry]["companies"])
                cust = _customer(r, self.seen)
                cust["currency"] = _wpick(r, [("$", 0.45), ("£", 0.4), ("€", 0.15)])
            long = r.random() < cfg.long_share
            weights = [(c_, w) for c_, w in _IND[industry]["cause_weights"].items()
                       if w > 0 and c_ not in exclude and (not long or c_ in _LONG_CAUSES)]
            if not weights:
                long = False
                weights = [(c_, w) for c_, w in _IND[industry]["cause_weights"].items() if w > 0 and c_ not in exclude]
            cause = _wpick(r, weights)
            sub = "main"
            if cause == "order_change" and r.random() < 0.35:
                sub = "cancel"
            elif cause == "reservation_change" and r.random() < 0.25:
                sub = "cancel"
            elif cause == "cancellation" and r.random() < 0.4:
                sub = "addon"
            story.update(industry=industry, company=company, cause=cause, sub=sub)
            p_out = cfg.prior_outside_share / max(1e-9, 1.0 - cfg.repeat_share)
            if not reused and r.random() < p_out:
                # the earlier contact happened before the window this file covers: this one falls early in it
                count = 1 if r.random() < 0.7 else 2
                gap_h = r.uniform(30, 160)
                day = r.randrange(0, int((gap_h - 21) // 24) + 1)
                started_fixed = self.t0 + timedelta(days=day, seconds=int(r.uniform(8, 20.5) * 3600))
                gap_h = (started_fixed - self.t0).total_seconds() / 3600 + (gap_h - day * 24 - 20.5) + 1.0
                earlier = started_fixed - timedelta(hours=gap_h)
                prior = {"count": count, "in_file": False, "previous_id": None, "previous_outcome": "unresolved",
                         "hours_since_previous": round(gap_h, 1), "before_file_window": True}
                story["_when"] = _when_phrases(gap_h, earlier)
            else:
                prior = {"count": 0, "in_file": False, "previous_id": None}
                started_fixed = None
            story["prior_count"] = prior["count"]
            if reused:
                c["causes"].append(cause)
        story["prior"] = prior
        story["reused_customer"] = reused
        ind = _IND[story["industry"]]
        # channel, handling
        if long:
            channel = "voice"
        else:
            rest = max(1e-9, 1.0 - cfg.long_share)
            pv = max(0.0, cfg.voice_share - cfg.long_share) / rest
            pe = cfg.email_share / rest
            x = r.random()
            channel = "voice" if x < pv else ("email" if x < pv + pe else "chat")
        handled_by = "ai" if channel != "email" and r.random() < cfg.ai_share else "human"
        story.update(channel=channel, long=long, handled_by=handled_by, currency=cust["currency"])
        story["competence"] = _wpick(r, [("good", 0.45), ("average", 0.4), ("poor", 0.15)])
        if story["cause"] in _INFO_CAUSES or story["cause"] in ("order_status", "other"):
            story["policy"] = _wpick(r, [("standard", 0.85), ("restricted", 0.1), ("forbids", 0.05)])
        else:
            story["policy"] = _wpick(r, [("standard", 0.62), ("restricted", 0.22), ("forbids", 0.16)])
        probs = _OUTCOME_TABLE[(story["competence"], story["policy"])]
        story["resolution"] = _wpick(r, list(zip(("resolved", "unresolved", "escalated"), probs)))
        if handled_by == "ai":
            if long:
                path = "handover_mid"
            elif story["resolution"] == "escalated":
                path = "handover_end" if r.random() < 0.6 else "handover_mid"
            elif story["resolution"] == "resolved":
                path = "bot_only" if r.random() < 0.45 else "handover_mid"
            else:
                path = "bot_only" if r.random() < 0.35 else "handover_mid"
        else:
            path = None
        story["ai_path"] = path
        story["resolution_mode"] = _sample_mode(r, story)
        story["team_esc"] = _pick(r, _CAUSE_TEAMS.get(story["cause"], []) + [x for x in ind["teams"] if x in _GENERAL_TEAMS]
                                  + (ind["teams"] if story["cause"] == "technical_fault" else []))
        story["queue"] = f"{channel}-{_QUEUES[story['cause']]}"
        sit = _pick(r, _SITUATIONS) if r.random() < 0.45 else None
        if prev:
            sit = prev["story"]["situation_pair"] or sit
        story["situation"], story["situation_text"] = (sit[0], sit[1]) if sit else (None, None)
        story["persona"] = {
            "tone": _wpick(r, [("calm", 0.35), ("frustrated", 0.25), ("angry", 0.1), ("chatty", 0.15), ("terse", 0.1), ("anxious", 0.05)]),
            "disfluency": _wpick(r, [("low", 0.3), ("mid", 0.45), ("high", 0.25)]),
            "chat_style": _wpick(r, [("clean", 0.35), ("casual", 0.4), ("sloppy", 0.25)]),
        }
        story["churn"] = _sample_churn(r, story)
        story["repeat"] = _sample_repeat(r, story)
        story["events"] = _sample_events(r, story, ind)
        if long:
            plan = "end" if r.random() < cfg.end_evidence_share else _wpick(r, [("late", 0.5), ("middle", 0.35), ("start", 0.15)])
        else:
            plan = _wpick(r, [("late", 0.65), ("middle", 0.2), ("start", 0.15)])
        if story["resolution_mode"] in _ENDING_MODES:
            plan = "end" if plan == "end" else "late"
            for key in ("churn", "repeat"):
                if story[key]["placement"] == "end":
                    story[key]["placement"] = "middle"
        story["evidence_plan"] = plan
        if long:
            lo_t = int(cfg.long_min_tokens * 1.05)
            story["target_tokens"] = int(r.triangular(lo_t, max(lo_t + 1, cfg.long_max_tokens), lo_t))
        elif channel == "voice":
            story["target_tokens"] = _wpick(r, [(r.randrange(60, 300), 0.3), (r.randrange(300, 900), 0.5), (r.randrange(900, 2000), 0.2)])
        else:
            story["target_tokens"] = _wpick(r, [(r.randrange(30, 120), 0.3), (r.randrange(120, 350), 0.5), (r.randrange(350, 800), 0.2)])
        started = started_fixed or self._start_time(r, channel)
        if prev is not None and channel != "email" and not (8 <= started.hour < 21):
            # people call back in the daytime: move to the next morning, still within 7 days of the earlier contact
            shift = ((8 - started.hour) % 24) * 3600 + r.randrange(0, 3 * 3600) - started.minute * 60
            candidate = started + timedelta(seconds=shift)
            if candidate - prev["started"] < timedelta(days=7) - timedelta(hours=1):
                started = candidate
                gap_h = (started - prev["started"]).total_seconds() / 3600
                story["prior"]["hours_since_previous"] = round(gap_h, 1)
                story["_when"] = _when_phrases(gap_h, prev["started"])
        story["_started"] = started
        fixed = {k: prev["slots"][k] for k in _SHARED_SLOTS} if prev else None
        slots = _make_slots(r, story, cust, fixed, self.cfg.wide_requests)
        w = _Writer(story, slots, r)
        if channel == "email":
            w.email()
        else:
            w.dialogue()
        return self._finish(i, story, cust, slots, w, prev, r, started)

    def _finish(self, i: int, story: dict[str, Any], cust: dict[str, str], slots: dict[str, Any], w: _Writer,
                prev: dict[str, Any] | None, r: Random, started: datetime) -> dict[str, Any]:
        cfg = self.cfg
        if story["channel"] == "voice":
            _merge_segments(w, r)
        turns = w.turns
        duration = _assign_times(turns, story["channel"], r)
        n = len(turns)
        # effort from what was written
        score = sum(x for _, x in w.effort_log)
        extra_events = []
        if story["long"]:
            score += 1.0
            extra_events.append({"type": "long_call", "weight": 1.0})
        att = w.ev.pop("_attempts", [])
        if w.attempts >= 3:
            aw = 1.0 if w.attempts >= 6 else 0.5
            score += aw
            w.ev["effort"].extend(att)
            extra_events.append({"type": "troubleshooting_steps", "count": w.attempts, "weight": aw})
        effort = _effort_label(score)
        if effort == "low" and not w.ev["effort"] and w.ev["resolution"]:
            w.ev["effort"].append(w.ev["resolution"][0])
        at_risk = any(flag for _, flag in w.churn_log)
        story["churn"]["at_risk"] = at_risk
        if story["prior_count"] > 0 and w.repeat_said == 0:
            logger.debug("conversation %d: repeat contact without a spoken repeat signal", i)
        ev = {h: sorted(set(v)) for h, v in w.ev.items()}
        res = ev["resolution"]
        plan = story["evidence_plan"]
        cut = int(0.9 * n)
        if plan == "end" and res and min(res) >= cut:
            pos = "end"
        elif not res:
            pos = "none"
        else:
            frac = max(res) / max(1, n - 1)
            pos = "start" if frac < 1 / 3 else ("middle" if frac < 2 / 3 else "late")
        story["evidence_position"] = pos
        story["effort"] = {"events": [{k: v for k, v in e.items() if k not in ("agent2",)} for e in story.pop("events")] + extra_events,
                           "written": [k for k, _ in w.effort_log], "score": round(score, 2), "label": effort}
        situation_pair = (story["situation"], story["situation_text"]) if story["situation"] else None
        story["customer_situation"] = {"kind": story.pop("situation"), "text": story.pop("situation_text")}
        story["cause_variant"] = story["sub"]
        story["agent_competence"] = story.pop("competence")
        story["policy"] = {"kind": story["policy"], "meaning": _POLICY_TEXT[story["policy"]]}
        story["outcome"] = story["resolution"]
        story["facts"] = {k: slots[k] for k in ("item", "order_no", "case_no", "amount") if isinstance(slots[k], str)}
        story["facts"]["story"] = slots["story"]
        labels: dict[str, Any] = {
            "resolution": story["resolution"],
            "cause": story["cause"],
            "churn_risk": "at_risk" if at_risk else "not_at_risk",
            "repeat_contact": "repeat" if story["prior_count"] > 0 else "first_contact",
            "effort": effort,
            "aux_cancellation_intent": bool(w.cancel_intent),
        }
        noisy: list[str] = []
        original: dict[str, str] = {}
        for head, (fld, classes) in HEAD_CLASSES.items():
            if r.random() < cfg.label_noise:
                others = [c for c in classes if c != labels[fld]]
                original[head] = labels[fld]
                labels[fld] = _pick(r, others)
                noisy.append(head)
        ind = _IND[story["industry"]]
        lo, hi = ind["value"]
        value = round(lo * (hi / lo) ** r.random(), 2)
        queue_base = _QUEUES[story["cause"]]
        bot_only = story["handled_by"] == "ai" and story["ai_path"] != "handover_mid"
        rid = f"synth-{self.seed}-{i:06d}"
        meta: dict[str, Any] = {
            "source": "synthetic",
            "channel": story["channel"],
            "language": "en",
            "customer_id": cust["customer_id"],
            "started_at": started.isoformat(),
            "handled_by": story["handled_by"],
            "account_value": value,
            "queue": story["queue"],
            "team": "virtual-assistant" if bot_only else f"{queue_base}-{_pick(r, _SITES)}",
            "industry": story["industry"],
            "company": story["company"],
            "handover": story["handled_by"] == "ai" and story["ai_path"] == "handover_mid",
            "duration_s": round(duration, 1),
            "tokens": sum(len(t["text"].split()) for t in turns),
            "story": _public_story(story),
            "evidence_turns": {h: ev[h] for h in ("resolution", "churn_risk", "effort", "repeat_contact", "contact_cause")},
            "label_noise": noisy,
        }
        if original:
            meta["label_noise_original"] = original
        if prev:
            meta["previous_id"] = prev["id"]
        record = {"id": rid, "turns": turns, "labels": labels, "meta": meta}
        # bookkeeping for later repeats and customer reuse
        if story["resolution"] != "resolved" and duration < 100 * 3600:
            keep = ("industry", "company", "cause", "sub", "prior_count", "resolution", "team_esc")
            self.open.append({"id": rid, "story": {**{k: story[k] for k in keep}, "situation_pair": situation_pair},
                              "cust": cust, "slots": slots, "started": started, "duration_h": duration / 3600.0})
        if not prev and not story["reused_customer"]:
            self.customers.append({"cust": cust, "industry": story["industry"], "company": story["company"], "causes": [story["cause"]]})
        return record


# ------------------------------------------------------------------------------------------ summary


def _percentiles(values: list[int], qs: Sequence[int]) -> dict[str, int]:
    if not values:
        return {f"p{q}": 0 for q in qs}
    v = sorted(values)
    out = {}
    for q in qs:
        k = min(len(v) - 1, max(0, int(round(q / 100 * (len(v) - 1)))))
        out[f"p{q}"] = v[k]
    return out


@dataclass
class SynthSummary:
    """What was generated: counts per industry, channel and head class, lengths, links and noise."""

    n: int
    seed: int
    out: str | None = None
    industries: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    handled_by: dict[str, int] = field(default_factory=dict)
    heads: dict[str, dict[str, int]] = field(default_factory=dict)
    aux_cancellation_intent: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    long_calls: int = 0
    repeats_linked: int = 0
    repeats_outside_window: int = 0
    label_noise: dict[str, int] = field(default_factory=dict)
    evidence_position: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]], seed: int, out: str | None, long_min: int) -> "SynthSummary":
        s = cls(n=len(records), seed=seed, out=out)
        s.heads = {h: {c: 0 for c in classes} for h, (_, classes) in HEAD_CLASSES.items()}
        s.aux_cancellation_intent = {"true": 0, "false": 0}
        s.label_noise = {h: 0 for h in HEAD_CLASSES}
        lengths = []
        for rec in records:
            m = rec["meta"]
            for d, k in ((s.industries, m["industry"]), (s.channels, m["channel"]), (s.handled_by, m["handled_by"]),
                         (s.evidence_position, m["story"]["evidence_position"])):
                d[k] = d.get(k, 0) + 1
            for h, (fld, _) in HEAD_CLASSES.items():
                s.heads[h][rec["labels"][fld]] += 1
            s.aux_cancellation_intent["true" if rec["labels"]["aux_cancellation_intent"] else "false"] += 1
            for h in m["label_noise"]:
                s.label_noise[h] += 1
            ntok = m["tokens"]
            lengths.append(ntok)
            s.long_calls += ntok >= long_min
            s.repeats_linked += "previous_id" in m
            s.repeats_outside_window += bool(m["story"]["prior"].get("before_file_window"))
        s.industries = dict(sorted(s.industries.items()))
        s.channels = dict(sorted(s.channels.items()))
        s.handled_by = dict(sorted(s.handled_by.items()))
        s.evidence_position = dict(sorted(s.evidence_position.items()))
        s.tokens = _percentiles(lengths, (5, 25, 50, 75, 95, 99, 100))
        return s

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n, "seed": self.seed, "out": self.out, "industries": self.industries, "channels": self.channels,
            "handled_by": self.handled_by, "heads": self.heads, "aux_cancellation_intent": self.aux_cancellation_intent,
            "tokens": self.tokens, "long_calls": self.long_calls, "repeats_linked": self.repeats_linked,
            "repeats_outside_window": self.repeats_outside_window, "label_noise": self.label_noise,
            "evidence_position": self.evidence_position,
        }

    def to_text(self) -> str:
        def line(name: str, d: dict[str, int]) -> str:
            return f"  {name:<24} " + ", ".join(f"{k}={v}" for k, v in d.items())

        lines = [f"synthetic conversations: {self.n} (seed {self.seed})" + (f" -> {self.out}" if self.out else "")]
        lines.append(line("industry", self.industries))
        lines.append(line("channel", self.channels))
        lines.append(line("handled_by", self.handled_by))
        for h, counts in self.heads.items():
            lines.append(line(h, counts))
        lines.append(line("aux_cancellation_intent", self.aux_cancellation_intent))
        lines.append(line("tokens (whitespace)", self.tokens))
        lines.append(f"  {'long calls':<24} {self.long_calls}")
        lines.append(f"  {'repeat contacts':<24} linked in file={self.repeats_linked}, earlier contact before window={self.repeats_outside_window}")
        lines.append(line("evidence_position", self.evidence_position))
        lines.append(line("labels flipped (noise)", self.label_noise))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- API


def iter_conversations(n: int, seed: int, config: SynthConfig = SynthConfig()) -> Iterator[dict[str, Any]]:
    """Yield ``n`` conversation records (what ``generate`` writes), deterministic in ``seed``."""
    if not isinstance(config, SynthConfig):
        raise ValueError(f"config must be a SynthConfig, got {type(config).__name__}")
    return iter(_Generator(n, seed, config))


def generate(n: int, seed: int, out: Path, config: SynthConfig = SynthConfig()) -> SynthSummary:
    """Write ``n`` conversations as JSONL to ``out`` (same seed and config, same bytes) and summarise them."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = []
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in iter_conversations(n, seed, config):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            records.append({"labels": rec["labels"], "meta": rec["meta"]})
    tmp.replace(out)
    summary = SynthSummary.from_records(records, seed=seed, out=str(out), long_min=config.long_min_tokens)
    logger.info("wrote %d synthetic conversations to %s", n, out)
    return summary
