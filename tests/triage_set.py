"""Made-up duty emails, labelled as a duty worker would label them, for measuring triage
(bench/triage.py, tests/test_triage_measure.py). Every name, address and number is fictional
(example.org / example.gov.uk addresses, Ofcom's drama phone numbers).

How each one is labelled:
- financial: it asks about the young person's money: a payment, allowance, bursary, benefit,
  debt, or something the team is asked to pay for.
- accommodation: it is about where the young person lives: finding, keeping, moving or losing
  a home, a tenancy or placement, or a problem with the landlord or the home itself.
  (A thank-you, an out-of-office or a newsletter asks for nothing, so it is in neither.)
- safeguarding: someone (the young person or their child) may be at risk of harm, abuse,
  neglect or exploitation, including self-harm, suicide risk and going missing: a duty worker
  would take it to the duty manager as a safeguarding matter.
- urgent: it needs someone today: a person at risk now, or without a roof, food, heating or
  medicine today, or an agency that needs an answer today.

The word lists were tuned on these in three rounds: the first 64 emails were written before
any tuning, the next 16 after the first round and the last 14 after the second, each batch
scored before the round that took it in (the figures are in the commit messages). So the
figures on this set are the fitted ones; a new email is likelier to be missed.

The sample inbox's 8 tasks (examples/inbox, 04 being a reply to 01) are labelled at the end.
"""

from __future__ import annotations

from dataclasses import dataclass

FIN = ("financial",)
ACC = ("accommodation",)
BOTH = ("financial", "accommodation")
NONE: tuple[str, ...] = ()


@dataclass(frozen=True)
class Labels:
    """The truth for one task: its categories, and whether it is safeguarding and urgent."""

    categories: tuple[str, ...] = NONE
    safeguarding: bool = False
    urgent: bool = False


@dataclass(frozen=True)
class Email:
    name: str  # a short name, for the lists of missed and false ones
    sender: str  # for the reader only: triage reads the subject and body
    subject: str
    body: str
    truth: Labels

    @property
    def text(self) -> str:
        """What triage reads, joined as intake joins it."""
        return f"{self.subject}\n{self.body}"


MADE_UP: list[Email] = [
    # ---- money ------------------------------------------------------------------------------
    Email(
        "uc-housing-element",
        "Kayla Dunmore <kayla.d@example.org>",
        "Behind with my rent",
        """Hi, I moved into my flat in August and Universal Credit still hasn't paid the housing
        part. Westgate Homes say I now owe £612 and they have sent me a letter about it. I've
        sent UC my tenancy agreement twice. Can my PA help me sort it out? Kayla""",
        Labels(BOTH),
    ),
    Email(
        "uc-sanction-no-food",
        "Liam Porter <liamp2006@example.org>",
        "sanctioned",
        """I missed my Job Centre appointment because I was ill and they have sanctioned me. I
        have got nothing now until the 14th, there is no gas on the meter and I haven't eaten
        since yesterday dinner. Is there any way you can help me with some money today?""",
        Labels(FIN, urgent=True),
    ),
    Email(
        "uc-advance",
        "Sana Qureshi <sana.qureshi@example.org>",
        "Universal Credit advance",
        """Hello, I have just made my Universal Credit claim and my first payment is not for five
        weeks. My work coach said I can ask for an advance but I don't know if I should or how
        much to ask for. Could someone explain it to me? Thank you, Sana""",
        Labels(FIN),
    ),
    Email(
        "uni-bursary-date",
        "Owen Pritchard <o.pritchard@student.example.ac.uk>",
        "Higher education bursary - when is it paid?",
        """Hi duty team, my PA is on annual leave. I start at university on 22 September and I
        wanted to check when the first part of the higher education bursary goes into my
        account, as I need to buy books and pay my halls deposit. Thanks, Owen""",
        Labels(FIN),
    ),
    Email(
        "setting-up-home",
        "Ebony Clarke <ebony.clarke@example.org>",
        "Setting up home allowance",
        """Hiya, I'm getting the keys to my first council flat next Wednesday!! I need a bed, a
        fridge and a cooker before I can move in. My PA said I can use my setting up home
        allowance but she's off this week. Who can order them for me? Ebony""",
        Labels(BOTH),
    ),
    Email(
        "council-tax-summons",
        "Marcus Lyle <marcus.lyle@example.org>",
        "court letter about council tax",
        """I got a summons from the magistrates court today saying I owe £287 council tax. I
        thought care leavers don't pay it until 25? I'm really worried I will get a criminal
        record. Can someone look at it please.""",
        Labels(FIN),
    ),
    Email(
        "no-gas-electric",
        "Dean Marsh <deanmarsh@example.org>",
        "no heating",
        """Hi, my electric and gas have both run out and I've used the emergency credit. I get
        paid Friday but I have no heating or hot water and it is freezing in here. Can you
        put some money on my key tonight? My PA normally does it.""",
        Labels(FIN, urgent=True),
    ),
    Email(
        "driving-lessons",
        "Precious Adeyemi <precious.a@example.org>",
        "Help with driving lessons?",
        """Hi, I passed my theory test last week (first time!). My friend said the leaving care
        team sometimes helps with driving lessons. Is that true and who do I ask? Precious""",
        Labels(FIN),
    ),
    Email(
        "birth-certificate",
        "Kane Whitlock <kane.whitlock@example.org>",
        "ID for bank account",
        """The bank won't open my account without ID and I haven't got my birth certificate.
        A copy from the register office is £12.50. Can the team pay for it? I need the account
        for my new job.""",
        Labels(FIN),
    ),
    Email(
        "laptop-for-college",
        "Student Support <student.support@riverside-college.example.org>",
        "Laptop request - Darcy Fenwick",
        """Dear duty team, Darcy has started our Level 3 Health and Social Care course and does
        not have a laptop, which she needs for assignments. Our hardship fund can pay half.
        Could the leaving care team fund the other £180? Kind regards, Student Support""",
        Labels(FIN),
    ),
    Email(
        "bank-scam",
        "Tasha Bright <tasha.bright@example.org>",
        "someone has taken my money",
        """I got a text saying it was from my bank and I put my details in, now £300 has gone
        out of my account. That was my money for bills. The bank say they will look into it
        but it could take weeks. What do I do?""",
        Labels(FIN),
    ),
    Email(
        "home-office-fare",
        "Abdul Karimi <abdul.karimi@example.org>",
        "Home Office interview Croydon",
        """Hello, I have my Home Office interview in Croydon on 9 December. My solicitor says I
        must go in person. The train is £48 return and I don't have this money. Can the team
        help with the ticket? Thank you very much, Abdul""",
        Labels(FIN),
    ),
    Email(
        "food-bank",
        "Chloe Ainsworth <chloe.ainsworth@example.org>",
        "food bank voucher",
        """Hi, can someone do me a food bank voucher please? My UC doesn't come in until
        Thursday and I have nothing in the cupboards. I haven't eaten properly for two days.""",
        Labels(FIN, urgent=True),
    ),
    Email(
        "councillor-suha",
        "Cllr Bethan Hughes <bethan.hughes@council.example.gov.uk>",
        "Enquiry on behalf of a resident - Niamh Doyle",
        """Good afternoon, I have been contacted by Niamh Doyle, a care leaver in my ward. She
        moved into her flat in July and says she is still waiting for her setting up home
        allowance three months later. Could someone tell me what the delay is? Regards, Cllr
        Hughes""",
        Labels(FIN),
    ),
    Email(
        "uc-claim-closed",
        "Jake Simmons <jake.simmons@example.org>",
        "UC journal says claim closed",
        """My UC journal says my claim has been closed because I didn't accept my claimant
        commitment. I didn't know I had to. I can't afford to lose it, can someone help me
        make a new claim?""",
        Labels(FIN),
    ),
    # ---- housing ----------------------------------------------------------------------------
    Email(
        "damp-and-mould",
        "Jess Harland <jess.harland@example.org>",
        "mould in my flat",
        """Hi, there is black mould all over my bedroom wall and the windows are always wet. I
        have told my landlord three times and he keeps saying it's because I dry my washing
        inside. My little boy keeps coughing. Can someone help me get it fixed?""",
        Labels(ACC),
    ),
    Email(
        "section-21",
        "Bradley Owusu <bradley.owusu@example.org>",
        "landlord wants me out",
        """My landlord has given me a section 21 notice and says I have to leave by 14 January
        because he is selling the house. I haven't done anything wrong. Where am I meant to go?
        Can my PA ring me.""",
        Labels(ACC),
    ),
    Email(
        "nowhere-tonight",
        "Ryan Tate <ryantate@example.org>",
        "nowhere to sleep",
        """My girlfriend has kicked me out and I've been on my mate's sofa for two nights but
        his mum says I can't stay tonight. I've got nowhere to go. What do I do? My phone is on
        12%.""",
        Labels(ACC, urgent=True),
    ),
    Email(
        "provider-unpaid-invoice",
        "Ashgrove Lodgings <accounts@ashgrove-lodgings.example.org>",
        "Outstanding invoice - Room 3, Ashgrove House",
        """Dear Sir or Madam, our invoice AL-5521 for Joel Barker's room for October remains
        unpaid. We have had no reply from the finance team. Please could you chase this, as we
        cannot hold the room without funding past 30 November. Ashgrove Lodgings""",
        Labels(BOTH),
    ),
    Email(
        "staying-put-allowance",
        "Margaret Oyelaran <m.oyelaran@example.org>",
        "Staying put arrangement for Mia",
        """Hello, Mia turned 18 last month and has stayed on with us under staying put. I was
        told the fostering allowance would change to a staying put payment and Mia would pay a
        contribution from her UC, but nothing has come through for three weeks. Who do I speak
        to? Margaret (foster carer)""",
        Labels(BOTH),
    ),
    Email(
        "tenancy-sign-up",
        "Housing Options <housing.options@council.example.gov.uk>",
        "Tenancy sign-up - Thursday 10am",
        """Hello, Aaliyah Ward's sign-up for 4 Linden Walk is booked for Thursday at 10am at the
        civic centre. Her personal adviser is welcome to attend. The first week's rent of £98
        is due at sign-up. Housing Options Team""",
        Labels(BOTH),
    ),
    Email(
        "foyer-final-warning",
        "Northgate Foyer <staff@northgate-foyer.example.org>",
        "Final warning - Jade Kinsella",
        """Hi, just to let you know Jade has been given a final warning today for having guests
        in her room after 11pm, which is against her licence agreement. If it happens again
        we will have to end her stay. Could her PA talk to her about it? Thanks, Northgate
        Foyer""",
        Labels(ACC),
    ),
    Email(
        "out-of-area-hostel",
        "Eastmere Leaving Care <leavingcare@eastmere.example.gov.uk>",
        "Care leaver in your area - supported accommodation options",
        """Dear colleagues, our care leaver Sami Rahimi (19) has been living in a hostel in your
        area since the summer and his stay ends on Friday. Could you tell us what supported
        accommodation options there are locally, and who to contact in your housing team?
        Many thanks, Eastmere Leaving Care Service""",
        Labels(ACC),
    ),
    Email(
        "probation-release",
        "Probation Service <n.fisher@probation.example.gov.uk>",
        "Marcus Bell - release and housing",
        """Good morning, Marcus Bell was released from HMP Lowfield on Friday and is living at
        approved premises for six weeks. After that he will need somewhere to live. Can his
        personal adviser contact me to start planning? Nadine Fisher, Probation Officer""",
        Labels(ACC),
    ),
    Email(
        "landlord-direct-payment",
        "R. Gill Lettings <rgill.lettings@example.org>",
        "Rent direct from Universal Credit",
        """Hello, I am the landlord for Tyrese Lamb at 27b Albert Road. He is two months behind.
        Can you help me set up a managed payment so that the rent comes to me straight from
        Universal Credit? Ravi Gill""",
        Labels(BOTH),
    ),
    Email(
        "staying-put-ending",
        "Carol Denby <carol.denby@example.org>",
        "Staying put - I can't carry on",
        """I'm sorry to email the duty team but I can't continue having Tia after Christmas.
        We have been arguing a lot and my own health isn't good. I don't want to just put her
        out, so can someone help find her somewhere? Carol""",
        Labels(ACC),
    ),
    Email(
        "notice-on-placement",
        "Brightpath Semi-Independent <manager@brightpath.example.org>",
        "28 days notice - Harvey Quinn",
        """Dear duty team, please accept this email as 28 days' notice on Harvey's placement at
        Brightpath, due to repeated damage to the property and refusal to engage with
        keywork. We are happy to meet to discuss a move plan. Brightpath Semi-Independent""",
        Labels(ACC),
    ),
    Email(
        "sofa-surfing",
        "Lewis Kemp <lewis.kemp@example.org>",
        "somewhere to live",
        """Hi, I've been sofa surfing since September, mostly at my cousin's. It's ok for now
        but I can't stay there forever. Can I go on the list for a flat? I don't know what to
        do. Lewis""",
        Labels(ACC),
    ),
    Email(
        "unsafe-stairs",
        "Femi Ogunleye <femi.ogunleye@example.org>",
        "lift broken again",
        """The lift in my block has been broken for 3 weeks and the stairs are unsafe, the
        lights don't work and there is glass everywhere. I live on the 9th floor. The housing
        association don't answer. Can someone chase them for me?""",
        Labels(ACC),
    ),
    Email(
        "housing-form-missing",
        "Housing Register <housing.register@council.example.gov.uk>",
        "Housing application - missing documents",
        """Dear duty team, Kacey Rowe's housing register application cannot be assessed as we
        are missing proof of identity and a letter confirming her care leaver status. Please
        send these so we can add her to the list. Housing Register Team""",
        Labels(ACC),
    ),
    # ---- safeguarding -------------------------------------------------------------------------
    Email(
        "resident-assaulted",
        "Elm Road Supported Living <duty@elmroad-support.example.org>",
        "Incident last night - Kayden Shaw",
        """Hi, Kayden was assaulted by another resident at about 11pm last night. He has a cut
        above his eye and bruising; police attended and took statements. He says he won't stay
        here another night and is asking to be moved. Can someone from the team call us this
        morning? Elm Road Supported Living""",
        Labels(ACC, safeguarding=True, urgent=True),
    ),
    Email(
        "police-missing-person",
        "PC Aled Morgan <aled.morgan@police.example.gov.uk>",
        "Concern for welfare - Reece Dunn",
        """Hello, Reece Dunn (18) has been reported missing by staff at his supported
        accommodation. He was last seen on Tuesday afternoon and his phone is going straight
        to voicemail. Do you hold any other addresses or associates for him? Please ring the
        control room, log 0339. PC Morgan""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "hospital-discharge-overdose",
        "Ward 12 Discharge Team <ward12.discharge@nhs.example.org>",
        "Discharge planning - Shannon Kerr",
        """Dear duty team, Shannon was admitted on Sunday after taking a large amount of
        paracetamol. She is medically fit for discharge tomorrow, but her hostel has said she
        cannot return. She has been seen by the liaison psychiatry team. We need to know where
        she will be going. Ward 12 Discharge Coordinator""",
        Labels(ACC, safeguarding=True, urgent=True),
    ),
    Email(
        "not-come-home",
        "Sue Fairley <sue.fairley@example.org>",
        "Aaron hasn't come back",
        """Hello, I'm Aaron's supported lodgings host. He went out on Friday night and hasn't
        come back. His phone is off. A friend of his said he has been hanging round the bus
        station with some older lads in a black car. He's only 17. I've rung the police.
        Sue""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "cutting-again",
        "Jade <jadeyk@example.org>",
        "cant cope",
        """i dont know who else to message. ive started cutting again and i dont see the point
        in anything anymore. i dont want to be here. please dont tell anyone at college""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "county-lines-worry",
        "Tom Reilly <tom.reilly@youthzone.example.org>",
        "Worried about Dylan",
        """Hi, I'm Dylan Price's youth worker. Over the last month he has had a new phone and
        expensive trainers, he gets picked up by different cars, and he told another lad he
        has been 'going to Birmingham for work' for a few days at a time. I think he is being
        used to run drugs. Who should I speak to? Tom""",
        Labels(safeguarding=True),
    ),
    Email(
        "nursery-bruising",
        "Little Acorns Nursery <manager@little-acorns.example.org>",
        "Concern about Leo (age 3) - mum is a care leaver",
        """Good morning, Leo arrived today with bruising on the top of both arms. Mum (Sophie
        Grant, one of your care leavers) said he fell off the sofa. We have followed our
        procedures and made a referral to the front door. We would like Sophie's personal
        adviser to be aware as soon as possible. Little Acorns Nursery""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "ex-came-round",
        "Amber Lowe <amber.lowe@example.org>",
        "he came back",
        """My ex came round last night even though he's not meant to come near me, and he
        pushed me into the wall and took my phone. I'm on my friend's phone. I'm scared he'll
        come back tonight, he knows where I live. Can I be moved somewhere he doesn't know?""",
        Labels(ACC, safeguarding=True, urgent=True),
    ),
    Email(
        "midwife-pre-birth",
        "Community Midwives <midwives.north@nhs.example.org>",
        "Pre-birth concern - Kayleigh Moss (28 weeks)",
        """Dear duty team, I saw Kayleigh at clinic today. Her partner answered every question
        for her, would not leave the room, and she has missed her last two scans. She has no
        cot or baby things yet. I am worried about coercive control and have asked for a
        pre-birth assessment. Could her PA contact me? Community Midwife""",
        Labels(safeguarding=True),
    ),
    Email(
        "crisis-team-bridge",
        "Crisis Team <crisis.team@mentalhealth.example.org>",
        "Crisis team contact - Ryan Cole",
        """Dear colleagues, Ryan called us at 2am saying he was on the bridge and going to jump.
        The police found him and we assessed him at home. He has agreed a safety plan and is
        with his brother today. Please ask his PA to contact him today. Crisis Resolution and
        Home Treatment Team""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "cuckooing",
        "J. Patel Property <jpatel.property@example.org>",
        "Complaints about your tenant",
        """Hello, I am the landlord for Chloe Barnes at Flat 2, 8 Mill Lane. Neighbours are
        complaining of people coming and going at all hours. A few young men seem to be
        staying there now and Chloe looked frightened when I called round. I don't want to end
        her tenancy but something isn't right. Jaz Patel""",
        Labels(ACC, safeguarding=True),
    ),
    Email(
        "older-boyfriend",
        "Diane Shore <diane.shore@example.org>",
        "Worried about Ruby",
        """I was Ruby's foster carer until she was 18. She has a new 'boyfriend' who must be
        about 30, he gives her money and weed, and she has posted pictures from hotel rooms in
        Manchester. She has stopped answering me since Sunday. I know she is an adult but I
        am really frightened for her. Diane""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "took-tablets",
        "Mason Hale <mason.hale@example.org>",
        "Kai",
        """Kai messaged me at 6 saying he has taken all his tablets and saying goodbye. I can't
        get through to him and I don't know where he is. I've phoned an ambulance but do you
        know where he lives now? He moved last month.""",
        Labels(safeguarding=True, urgent=True),
    ),
    # ---- everyday ---------------------------------------------------------------------------
    Email(
        "gp-medication-review",
        "Parkside Surgery <parkside.surgery@nhs.example.org>",
        "Letter for Ellie Shaw",
        """Dear leaving care team, please could you ask Ellie to book a medication review with
        Dr Amin. She has missed her last two appointments and we have been unable to reach her
        by phone. Parkside Surgery""",
        Labels(),
    ),
    Email(
        "college-attendance",
        "Riverside College <attendance@riverside-college.example.org>",
        "Attendance concern - Tom Fielding",
        """Dear duty team, Tom's attendance has dropped to 62% this term and he is at risk of
        losing his college bursary if it does not improve by half term. Could his personal
        adviser arrange to meet him and his tutor? Attendance Officer""",
        Labels(FIN),
    ),
    Email(
        "jobcentre-appointment",
        "Gemma Rowntree <gemma.rowntree@dwp.example.gov.uk>",
        "Appointment with Liam Hughes - 3 December",
        """Hello, I'm Liam's work coach. We are reviewing his claimant commitment on 3 December
        at 11am and he has asked if his personal adviser can come with him. Please let me know
        if that is possible. Gemma, Work Coach""",
        Labels(),
    ),
    Email(
        "please-call-back",
        "Kacey Rowe <kacey.rowe@example.org>",
        "please call me back",
        """Hi it's Kacey, I lost my phone and I've not got my PA's new number. Can someone ring
        me back when you get a chance, it's nothing bad. I've been feeling a bit flat lately
        so it would be nice to have a chat with her.""",
        Labels(),
    ),
    Email(
        "appointment-moved",
        "Ola Bankole <ola.bankole@example.org>",
        "change of appointment",
        """Hi, can you tell Priya I can't do Tuesday for my pathway plan review because of work.
        Could we do Thursday at 2 instead? Thanks Ola""",
        Labels(),
    ),
    Email(
        "thank-you",
        "Imani Shaw <imani.shaw@example.org>",
        "thank you",
        """I just wanted to say a massive thank you to Sam for helping me with all the forms for
        my flat. I moved in on Saturday and it's lovely, I've even got curtains up. Imani""",
        Labels(),
    ),
    Email(
        "out-of-office",
        "Karen Whitby <karen.whitby@council.example.gov.uk>",
        "Automatic reply: Kieran Holt - housing benefit",
        """Thank you for your email. I am out of the office until Monday 30 November with no
        access to email. For urgent matters please contact the duty team on 01632 960000. If
        you think a child or young person is at risk of harm, please call the front door, or
        999 in an emergency.""",
        Labels(),
    ),
    Email(
        "newsletter",
        "Care Leavers Forum <forum@council.example.gov.uk>",
        "Care Leavers Forum newsletter - December",
        """In this issue: our Christmas meal on 19 December (free, just turn up), a reminder
        that care leavers under 25 don't pay council tax in this borough, driving lesson
        bursaries are open again, and tips for budgeting over the holidays. Feeling unsafe or
        worried about a friend? Talk to your PA or call Childline.""",
        Labels(),
    ),
    Email(
        "police-checks-new-job",
        "Nathan Cole <nathan.cole@example.org>",
        "police checks for my new job",
        """Good news, I got the job at Fernbank care home! They need to do police checks (a DBS)
        and they want a reference from my PA. Can you pass on her email? Nathan""",
        Labels(),
    ),
    Email(
        "missing-my-appointment",
        "Leah Marsden <leah.marsden@example.org>",
        "I'm missing my appointment",
        """Hi, I'm going to be missing my appointment with Alex on Thursday because I've got a
        job interview at the same time. Sorry! Can we rearrange for next week? Leah""",
        Labels(),
    ),
    Email(
        "flat-pack-wardrobe",
        "Kieran Holt <kieran.holt@example.org>",
        "my flat-pack wardrobe",
        """The flat-pack wardrobe my PA ordered came yesterday but the screws and two of the
        doors are missing. Can someone ring the shop for me as it was ordered in her name?""",
        Labels(),
    ),
    Email(
        "work-placement-boots",
        "Greenway College <j.fletcher@greenway-college.example.org>",
        "Work placement - Jayden Miles",
        """Hello, Jayden's work placement at Castle Garage starts on Monday. He needs steel toe
        cap boots for health and safety, which cost about £38. Is this something the leaving
        care team could pay for? Jo Fletcher, Placement Coordinator""",
        Labels(FIN),
    ),
    Email(
        "fracture-clinic",
        "Zak Ahmed <zak.ahmed@example.org>",
        "hospital appointment",
        """I broke my wrist playing football and I've got a fracture clinic appointment at the
        hospital on Monday at 9. Is there any chance someone could give me a lift? The bus
        takes ages. Zak""",
        Labels(),
    ),
    Email(
        "catering-knife-kit",
        "Millie Dawson <millie.dawson@example.org>",
        "knife kit for my course",
        """Hi, I've started the professional cookery course and I need my own knife kit and
        whites by next week, it's £65 altogether. Can I use my bursary or can the team help?
        Millie""",
        Labels(FIN),
    ),
    Email(
        "re-bus-pass-sorted",
        "Renee Castell <renee.castell@example.com>",
        "Re: Bus pass for Zoe",
        """That's all sorted now, thank you. Zoe picked the new pass up from the office today.
        Renee""",
        Labels(),
    ),
    Email(
        "emergency-contact-update",
        "Harley Price <harley.price@example.org>",
        "emergency contact",
        """Hi can you change my emergency contact on my file to my aunt Lisa please, not my mum.
        Her number is 07700 900456. Thanks""",
        Labels(),
    ),
    Email(
        "prescription-run-out",
        "Cian Walsh <cian.walsh@example.org>",
        "URGENT medication",
        """I've run out of my epilepsy tablets and the chemist says I have to pay £9.90 because
        my exemption certificate has expired. I have no money until Monday. Can someone help
        me get them today?""",
        Labels(FIN, urgent=True),
    ),
    Email(
        "self-harm-training",
        "Workforce Development <training@council.example.gov.uk>",
        "Places available: self-harm awareness training",
        """There are still places on the half-day self-harm awareness course for personal
        advisers on 4 February, 9.30 to 1pm, at the civic centre. Book through the learning
        portal. Workforce Development Team""",
        Labels(),
    ),
    Email(
        "appropriate-adult",
        "Custody Suite <custody.central@police.example.gov.uk>",
        "Appropriate adult needed - Kyle Ward (17)",
        """Kyle Ward, 17, was arrested this morning on suspicion of criminal damage and is at
        Central custody suite. He has asked for his leaving care worker to act as appropriate
        adult. Interview is planned for 3pm today. Please call the custody sergeant.""",
        Labels(urgent=True),
    ),
    Email(
        "youth-court",
        "Youth Justice Service <yjs@council.example.gov.uk>",
        "Court on Tuesday - Connor Banks",
        """Hi, Connor is at the youth court on Tuesday 10am for driving without insurance. He
        would like his PA to come with him if possible. Could someone let me know? Youth
        Justice Service""",
        Labels(),
    ),
    Email(
        "employer-reference",
        "Fernbank Care Home <hr@fernbank-care.example.org>",
        "Reference request - Nathan Cole",
        """Dear personal adviser, Nathan Cole has applied for a care assistant post with us and
        has given your name as a referee. Please could you complete the attached reference
        form by Friday. Fernbank HR""",
        Labels(),
    ),
    # ---- written after the first tuning, and scored before the second --------------------
    Email(
        "pip-assessment",
        "Ellis Varley <ellis.varley@example.org>",
        "PIP letter",
        """Hi, I've had a brown envelope saying my PIP assessment is on the 12th at a centre in
        town. I get really anxious in those places. Can someone come with me? I've also got a
        letter saying I was overpaid and have to give some back, I don't understand it.""",
        Labels(FIN),
    ),
    Email(
        "gas-safety-landlord",
        "Oakhill Lettings <office@oakhill-lettings.example.org>",
        "Access needed - gas safety check, 14 Fern Street",
        """Dear team, our engineer has tried twice to do the annual gas safety check at Mr Cole's
        property and could not get in. We are legally required to complete it. If we can't get
        access next Tuesday we will have to consider our position on the tenancy. Oakhill
        Lettings""",
        Labels(ACC),
    ),
    Email(
        "boyfriend-took-money",
        "Sky Mitchell <sky.mitchell@example.org>",
        "my boyfriend",
        """I dont really know how to say this. My boyfriend has my bank card and takes all my money
        when it comes in, he says it's for us but I never get any. When I ask he gets angry and
        punches walls. I havent told my PA because he reads my phone.""",
        Labels(FIN, safeguarding=True),
    ),
    Email(
        "baby-no-milk",
        "Jodie Platt <jodie.platt@example.org>",
        "help",
        """I've got no formula left for the baby and no money till Monday, the food bank isn't
        open till Thursday. She's 4 months. Please can someone ring me back this morning""",
        Labels(FIN, urgent=True),
    ),
    Email(
        "a-and-e-friend",
        "A&E Liaison <ed.liaison@nhs.example.org>",
        "Attendance at Emergency Department - Corey Flynn",
        """For information: Corey Flynn (19) attended our Emergency Department last night with
        an injury to his hand after punching a window while intoxicated. He disclosed low mood
        and thoughts of ending his life. He was seen by the mental health liaison team and
        discharged home to his flat. GP informed.""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "passport-application",
        "Hana Osei <hana.osei@example.org>",
        "Passport",
        """Hello, I want to apply for my first passport so I can go on holiday with my friends in
        the summer. Do I need a letter from the council as I was in care? And does the team help
        with the cost? Hana""",
        Labels(FIN),
    ),
    Email(
        "dsl-secondary-sibling",
        "Castlefield Academy <dsl@castlefield-academy.example.org>",
        "Concern - Year 9 pupil living with older sister (care leaver)",
        """Good afternoon, Tayla (Year 9) lives with her older sister Bryony, who I understand is
        one of your care leavers. Tayla told her form tutor that Bryony's partner shouts at them
        both and last night threw a plate at Bryony. Tayla does not want to go home. We have
        contacted the front door. Designated Safeguarding Lead""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "tv-licence",
        "Ben Lacey <ben.lacey@example.org>",
        "tv licence letter",
        """Got a letter saying I need a TV licence or I could be fined £1000. I only watch stuff
        on my phone. Do I need one? Ben""",
        Labels(FIN),
    ),
    Email(
        "duty-handover-colleague",
        "Alex Turner <alex.turner@council.example.gov.uk>",
        "Handover note - outstanding from yesterday",
        """Hi all, two things still open from yesterday's duty: I promised to ring Kacey back
        about her PA's number, and the college want a letter for Darcy. Nothing else pending.
        Alex""",
        Labels(),
    ),
    Email(
        "hostel-eviction-today",
        "St Anne's Hostel <manager@stannes-hostel.example.org>",
        "Josh Neal - asked to leave",
        """Josh was asked to leave the hostel this morning after a fight with another resident.
        He has left with his bags and we don't know where he has gone. He cannot return. He was
        very angry and said he would 'sort it himself'.""",
        Labels(ACC, safeguarding=True, urgent=True),
    ),
    Email(
        "christmas-party-invite",
        "Participation Team <participation@council.example.gov.uk>",
        "Invitation: care leavers' Christmas party",
        """You're invited! Our care leavers' Christmas party is on 18 December from 5 to 8pm at
        the youth centre. Food, music and a gift for everyone. Please reply by 10 December so
        we know numbers. The Participation Team""",
        Labels(),
    ),
    Email(
        "interpreter-needed",
        "Mehdi Rostami <mehdi.rostami@example.org>",
        "interpreter for meeting",
        """Hello, for my meeting with my new personal adviser next week please can there be a
        Dari interpreter. My English is better but for important things I need. Thank you""",
        Labels(),
    ),
    Email(
        "uni-halls-summer",
        "Grace Ibe <grace.ibe@student.example.ac.uk>",
        "Where do I live over the summer?",
        """My halls contract ends on 20 June and I don't go back until September. I don't have a
        family home to go to. Can the team help me find somewhere for the summer, and will
        vacation accommodation be paid for? Grace""",
        Labels(BOTH),
    ),
    Email(
        "pharmacy-collection",
        "Dale Pharmacy <dale.pharmacy@nhs.example.org>",
        "Uncollected prescription - Tom Gale",
        """Tom's repeat prescription for his inhaler has been ready for collection for three weeks.
        Could his worker remind him? Dale Pharmacy""",
        Labels(),
    ),
    Email(
        "wont-answer-door",
        "Nadia Price <nadia.price@example.org>",
        "my brother",
        """My brother Kieran lives on his own in a flat in Beech Road. Nobody has seen him for
        four days, the curtains are shut and he won't answer the door or his phone. He has been
        really down since he lost his job. I don't know what to do.""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "college-trip-money",
        "Riverside College <trips@riverside-college.example.org>",
        "Residential trip - deposit",
        """Dear leaving care team, Amira would like to join the Art and Design residential to
        Edinburgh in March. A deposit of £50 is due by 15 January. Could you let us know if the
        leaving care team can contribute? Trips Office""",
        Labels(FIN),
    ),
    # ---- written after the second tuning, and scored before the third --------------------
    Email(
        "wants-to-give-up",
        "Rhys Bowen <rhys.bowen@example.org>",
        "tired of everything",
        """sorry for emailing so late. everything is going wrong, lost my job, my girlfriend
        left and now the rent is late. honestly feel like everyone would be better off without
        me. i have been stockpiling my meds. i just wanted someone to know""",
        Labels(FIN, safeguarding=True, urgent=True),
    ),
    Email(
        "housing-officer-visit",
        "Tenancy Services <tenancy.services@council.example.gov.uk>",
        "Tenancy visit - 3 Orchard Close",
        """Hello, we have tried to carry out a routine introductory tenancy visit at Ms Webb's
        home twice. Please could her personal adviser help us arrange a time? Tenancy Services""",
        Labels(ACC),
    ),
    Email(
        "manager-car-followed",
        "Riverbank Supported Living <team@riverbank-sl.example.org>",
        "Concern - Kiera being picked up",
        """Staff have noticed Kiera (18) being collected late at night by a man in his forties who
        waits in a car outside. She comes back in the early hours with alcohol and new clothes
        and won't say where she has been. She said he is 'just a friend'.""",
        Labels(safeguarding=True),
    ),
    Email(
        "uc-deduction",
        "Aidan Shore <aidan.shore@example.org>",
        "UC taking money off me",
        """My universal credit has gone down by £90 this month. The journal says it is a
        deduction for an advance and an old tax credits thing. I can't live on what's left.""",
        Labels(FIN),
    ),
    Email(
        "gp-registration",
        "Wells Road Surgery <wellsroad.surgery@nhs.example.org>",
        "New patient registration - Amani Yusuf",
        """We have received a registration form for Amani but it has no address on it. Could you
        confirm her current address so that we can complete the registration? Reception""",
        Labels(),
    ),
    Email(
        "fire-at-flat",
        "Fire Service Community Safety <community.safety@fire.example.gov.uk>",
        "Kitchen fire - 22 Harbour View",
        """Dear team, crews attended a kitchen fire at Devon Clarke's home at 2am. Nobody was
        hurt but the kitchen is badly damaged and the property is not habitable. Devon is at a
        friend's for now and has asked us to contact you about somewhere to stay.""",
        Labels(ACC, urgent=True),
    ),
    Email(
        "mum-turned-up",
        "Lacey Dunn <lacey.dunn@example.org>",
        "my mum",
        """My birth mum has found me on facebook and turned up at my work today. I didn't want to
        see her, the court said she's not allowed contact because of what she did when I was
        little. She said she'll come back. I'm shaking.""",
        Labels(safeguarding=True, urgent=True),
    ),
    Email(
        "broken-boiler",
        "Shay Kerr <shay.kerr@example.org>",
        "boiler",
        """Boiler has packed in, no hot water since Sunday. Landlord says he will send someone
        Friday. Is that ok? Can you ring him?""",
        Labels(ACC),
    ),
    Email(
        "training-allowance",
        "Apprenticeships Team <apprenticeships@council.example.gov.uk>",
        "Apprenticeship bursary - Callum Reeve",
        """Callum has been accepted onto our business admin apprenticeship from 5 January. Care
        leavers starting an apprenticeship can receive a £1,000 bursary. Please can his PA
        confirm his care leaver status on the attached form. Apprenticeships Team""",
        Labels(FIN),
    ),
    Email(
        "hello-new-number",
        "Leon Grady <leon.grady@example.org>",
        "new number",
        """Hi this is Leon, just letting you know my new number is 07700 900812. Can you put it on
        my file and let Priya know. Cheers""",
        Labels(),
    ),
    Email(
        "girlfriend-hurt-him",
        "Owen Pritchard <o.pritchard@student.example.ac.uk>",
        "not sure who to tell",
        """This is a bit embarrassing. My girlfriend slaps me when she's drunk and last week she
        smashed my laptop. I'm a 6ft bloke so nobody would believe me. I don't want her in
        trouble I just don't know what to do.""",
        Labels(safeguarding=True),
    ),
    Email(
        "court-possession",
        "County Court <civil.enquiries@courts.example.gov.uk>",
        "Possession hearing - Westgate Homes v Dunmore",
        """Notice of hearing: the claim for possession of 5 Station Yard will be heard on 19
        January at 10am. The defendant may wish to seek advice about the rent arrears claimed.""",
        Labels(BOTH),
    ),
    Email(
        "volunteering-thanks",
        "Food Share Project <volunteers@foodshare.example.org>",
        "Thank you from Food Share",
        """Just a note to say how brilliant Ebony has been volunteering with us on Saturdays. She
        is great with the customers and has been offered a reference whenever she needs one.""",
        Labels(),
    ),
    Email(
        "baby-unwell-no-credit",
        "Tia Morgan <tia.morgan@example.org>",
        "phone out of credit",
        """On my neighbours phone. My baby has had a high temperature all night and wont feed and
        I've got no credit to ring 111 or a taxi. Please can someone call me on this number""",
        Labels(urgent=True),
    ),
]


# The sample inbox (examples/inbox), one entry per task, by the file name of its first email.
SAMPLE: dict[str, Labels] = {
    # Rent arrears, eviction letter for the 27th: money and housing, this week but not today.
    "01-rent-arrears": Labels(BOTH),
    # The supported housing provider chasing the council's payment, arrears letter for Leah.
    "02-missed-payment": Labels(BOTH),
    # Police asking after a young man nobody has heard from since Saturday.
    "03-police-welfare-check": Labels(safeguarding=True, urgent=True),
    # A tenancy support plan at the foyer to file; the budgeting sessions are support work.
    "05-support-plan-attached": Labels(ACC),
    # A bursary payment on hold until the college has a letter, by Friday.
    "06-college-html-only": Labels(FIN),
    # A £45 bus pass for a café work placement; "stayed put" is only her background.
    "07-foster-carer-latin1": Labels(FIN),
    # Locked out of the flat, phone dying, getting dark.
    "08-urgent-channel": Labels(ACC, urgent=True),
    # The school's safeguarding lead: a hungry child, mum low; wants the PA to know today.
    "09-school-safeguarding": Labels(safeguarding=True, urgent=True),
}
