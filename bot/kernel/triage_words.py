"""The default words of triage: what suggests a category (financial, accommodation) or hints
at safeguarding or urgency, and the phrases whose words mean something else there."""

from __future__ import annotations

from typing import Final

# Tuned on the sample inbox and the made-up duty emails (tests/triage_set.py; bench/triage.py
# prints how they do). A safeguarding hint missed is worse than a false one, as a person
# decides each hint; the not-words take out phrases whose words mean something else there.
# "*" ending a word takes any ending ("evict*": evict, evicted, eviction); "*" alone is any
# one word ("end * life"). Words only catch what is said in words the list has: a concern
# put another way gets no hint, so every email is still read.
FINANCIAL_WORDS: Final = (
    "rent", "arrears", "payment*", "paid", "pay", "bursary", "allowance", "universal credit",
    "uc", "benefit*", "sanction*", "pip", "money", "debt*", "owe", "owed", "owes", "loan",
    "overpaid", "overpayment", "invoice", "budget*", "council tax", "hardship", "bills",
    "afford", "cost", "costs", "fund", "funding", "food bank", "foodbank", "voucher",
    "a grant", "the grant", "leaving care grant", "driving lessons", "£",
)  # fmt: skip
FINANCIAL_NOT_WORDS: Final = ("pay a visit", "paid a visit", "pay attention")
ACCOMMODATION_WORDS: Final = (
    "tenan*", "evict*", "notice to quit", "section 21", "possession order",
    "claim for possession", "possession hearing", "homeless*", "landlord", "landlady",
    "lettings", "housing", "accommodation", "supported living", "lodgings", "hostel", "foyer",
    "placement", "staying put", "stayed put", "flat", "locked out", "kicked out",
    "kicked me out", "thrown out", "asked to leave", "sofa surfing", "sofa-surfing",
    "rough sleeping", "sleeping rough", "nowhere to live", "nowhere to sleep",
    "somewhere to live", "somewhere to stay", "rehous*", "be moved", "not habitable",
    "uninhabitable", "damp", "mould", "repairs",
)  # fmt: skip
ACCOMMODATION_NOT_WORDS: Final = (
    "flat-pack", "flat pack", "flat rate", "flat fee", "flat tyre", "flat battery",
    "battery is flat", "phone is flat", "feeling flat", "a bit flat", "work placement",
    "work placements", "college placement", "student placement", "nursing placement",
    "placement year", "placement coordinator",
)  # fmt: skip
SAFEGUARDING_WORDS: Final = (
    # harm to self
    "overdos*", "self-harm*", "self harm*", "suicid*", "kill myself", "end * life",
    "ending * life", "own life", "want to die", "don't want to be here",
    "don't want to live", "better off without me", "nothing to live for", "stockpil*",
    "can't cope", "can't go on", "cut myself", "cutting myself", "cutting again",
    "paracetamol", "low mood", "depressed", "hospital", "a&e", "emergency department",
    "ambulance", "sectioned", "psychiatr*", "crisis team",
    # missing
    "missing", "not heard from", "nobody has heard", "no one has heard", "nobody has seen",
    "no one has seen", "not been seen", "hasn't been seen", "hasn't come home",
    "hasn't come back", "not come home", "not come back", "didn't come home", "whereabouts",
    "welfare check", "concern for welfare",
    # harm from others
    "police", "999", "abus*", "assault*", "attacked", "hit me", "hit her", "hit him",
    "hits me", "hits her", "hurt me", "pushed me", "punch*", "slap*", "a fight",
    "threatened", "threatening", "domestic violence", "domestic abuse", "coercive",
    "controlling", "rape", "raped", "knife", "weapon", "stabbed", "scared", "frightened",
    "feel unsafe", "feels unsafe", "feeling unsafe", "not safe", "don't feel safe",
    "doesn't want to go home", "does not want to go home", "not allowed contact",
    "not allowed to contact", "no contact order", "non-molestation", "restraining order",
    # exploitation
    "exploit*", "groom*", "county lines", "cuckoo*", "run drugs", "running drugs",
    "traffick*", "older man", "older men", "older male*", "won't say where",
    # a child
    "safeguarding", "at risk", "neglect*", "bruis*", "child protection", "pre-birth", "mash",
)  # fmt: skip
SAFEGUARDING_NOT_WORDS: Final = (
    "police check", "police checks", "knife kit", "missing out", "missing my appointment",
    "missing an appointment", "missing his appointment", "missing her appointment",
    "missing appointments", "missing payment", "missing payments", "missing documents",
    "missing information", "missing paperwork", "missing proof", "at risk of losing",
    "at risk of eviction", "at risk of being evicted", "at risk of homelessness",
    "tenancy at risk",
)  # fmt: skip
URGENT_WORDS: Final = (
    "urgent", "urgently", "asap", "as soon as possible", "emergency", "immediately",
    "straight away", "right away", "tonight", "nowhere to sleep", "nowhere to go", "no food",
    "nothing to eat", "haven't eaten", "no formula", "no nappies", "no heating",
    "no electric", "no gas", "locked out", "not habitable", "uninhabitable", "in custody",
    # the gravest safeguarding words: today, not later
    "overdos*", "paracetamol", "suicid*", "kill myself", "end * life", "ending * life",
    "want to die", "don't want to be here", "better off without me", "stockpil*",
    "ambulance", "assaulted", "gone missing", "reported missing", "hasn't come home",
    "hasn't come back", "nobody has seen", "no one has seen", "not been seen",
    "welfare check", "concern for welfare", "doesn't want to go home",
    "does not want to go home",
)  # fmt: skip
URGENT_NOT_WORDS: Final = (
    "not urgent", "nothing urgent", "isn't urgent", "for urgent matters", "if urgent",
    "if it's urgent", "if it is urgent", "if your enquiry is urgent", "if your query is urgent",
    "in an emergency", "emergency contact",
)  # fmt: skip
