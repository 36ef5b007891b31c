"""Training templates for the text classifier (the project's own, generated data).

These teach the contrasts real data lacks: a group mention is not hate; hate is abuse aimed at a
protected group; insults at individuals and profanity are not hate; negation, counter-speech that
quotes hate, and reclaimed self-reference are not hate. Every group template is expanded over
every group (counterfactual augmentation), so no group term can carry the label on its own.

The evaluation suites under ``eval/text/`` were written separately, with different wording, and
are never read by training.
"""

from __future__ import annotations

#: (adjective, plural noun) for each group.
GROUPS: tuple[tuple[str, str], ...] = (
    ("Muslim", "Muslims"), ("Jewish", "Jews"), ("Black", "Black people"), ("gay", "gay men"),
    ("trans", "trans women"), ("Mexican", "Mexicans"), ("Asian", "Asians"), ("disabled", "disabled people"),
    ("immigrant", "immigrants"), ("Christian", "Christians"), ("female", "women"), ("lesbian", "lesbians"),
    ("bisexual", "bisexual people"), ("Arab", "Arabs"), ("Chinese", "Chinese people"), ("Indian", "Indians"),
    ("Native American", "Native Americans"), ("deaf", "deaf people"), ("autistic", "autistic people"),
    ("elderly", "old people"), ("refugee", "refugees"), ("Latino", "Latinos"), ("white", "white people"),
    ("Hindu", "Hindus"), ("Sikh", "Sikhs"), ("queer", "queer people"), ("blind", "blind people"),
    ("Romani", "Roma"), ("Nigerian", "Nigerians"), ("transgender", "transgender people"),
    ("schizophrenic", "people with schizophrenia"), ("Hispanic", "Hispanics"),
    ("trans", "trans people"), ("gay", "gay people"), ("trans", "trans men"), ("gay", "gay women"),
    ("nonbinary", "nonbinary people"), ("Jewish", "Jewish people"), ("Muslim", "Muslim women"),
    ("Korean", "Koreans"), ("Pakistani", "Pakistanis"), ("Black", "Black women"),
)

# Labels: t=toxicity, s=severe_toxicity, i=insult, h=threat, a=identity_attack, o=obscene.
# A label left out is unknown for that template (masked in the loss, or taught by the teacher).
_ZERO = {"t": 0, "s": 0, "i": 0, "h": 0, "a": 0, "o": 0}

GROUP_TEMPLATES: dict[str, tuple[dict, tuple[str, ...]]] = {
    "neutral": (_ZERO, (
        "{P} live in many parts of the world.",
        "My coworker is {a}.",
        "We invited a few {P} to speak on the panel.",
        "The survey asked {P} about housing costs.",
        "A {a} family moved in across the street.",
        "She is writing a thesis on {a} history.",
        "How many {P} live in Canada?",
        "The clinic offers services for {P} and their families.",
        "I met two {P} at the conference yesterday.",
        "The article discusses how {P} are represented on television.",
        "My dentist is {a}.",
        "There is a {a} community center near the station.",
        "The documentary follows three {P} over one year.",
        "Some {P} prefer to work from home.",
        "Is it true that {P} celebrate this holiday in spring?",
        "The new mayor met with {a} leaders this morning.",
    )),
    "positive": (_ZERO, (
        "{P} are amazing.",
        "I really admire {P}.",
        "So proud of my {a} friends.",
        "{P} make our neighbourhood a better place.",
        "Sending love to all {P} today.",
        "We stand with {P}.",
        "My {a} teacher was the kindest person I knew.",
        "{P} deserve the same respect as everyone else.",
        "Thank you to the {P} who volunteered this weekend.",
        "Being {a} is something to celebrate.",
    )),
    "negated": (_ZERO, (
        "I don't hate {P}.",
        "I have nothing against {P}.",
        "{P} are not a threat to anyone.",
        "I would never say {P} are evil.",
        "Who could possibly hate {P}? Not me.",
        "It is not true that {P} are dangerous.",
        "I refuse to believe that {P} are worse than anyone else.",
        "It is wrong to say {P} are inferior.",
        "There's nothing wrong with being {a}.",
        "Nobody should be treated badly for being {a}.",
        "{P} are not criminals, and saying so is ignorant.",
    )),
    "counter_speech": (_ZERO, (
        "People who say '{P} are animals' are bigots.",
        "Stop saying {P} are dirty, it is hateful.",
        "My uncle claimed {P} are all criminals and I told him that is racist.",
        "Reported this account for calling {P} vermin.",
        "Writing 'get rid of {P}' in the comments is hate speech and it has to stop.",
        "The poster said {P} should be deported; the moderators rightly removed it.",
        "'{P} are a plague' is the kind of lie we have to keep calling out.",
        "Quoting him: '{P} are filth.' Disgusting. He should apologise.",
        "If you think {P} are inferior, you need to educate yourself.",
    )),
    "self_reference": (_ZERO, (
        "As a {a} person, I think this policy is long overdue.",
        "I'm {a} and proud of it.",
        "Me and my fellow {P} are organising a meetup.",
        "Growing up {a} taught me a lot about resilience.",
    )),
    "hateful": ({"t": 1, "a": 1, "h": 0}, (
        "{P} are subhuman.",
        "All {P} are parasites.",
        "I hate {P}.",
        "{P} should be deported, every last one of them.",
        "Get rid of the {P}, they ruin everything.",
        "{P} are a disease on this country.",
        "Never trust {P}, they are all liars.",
        "{P} don't deserve any rights.",
        "{P} are filthy animals.",
        "This country would be better without {P}.",
        "{P} are too stupid to vote.",
        "I wouldn't let a {a} person near my children.",
        "{P} are a plague and everyone knows it.",
        "Keep {P} out of our schools.",
    )),
    "hateful_threat": ({"t": 1, "a": 1, "h": 1, "s": 1}, (
        "{P} should all be shot.",
        "We will burn down every {a} home in this town.",
        "Kill all the {P}.",
        "Someone should put a bullet in every {a} person.",
        "The {P} will get what's coming to them, we'll make sure of it.",
    )),
}

#: Templates without a group: individual abuse, threats, profanity, benign look-alikes.
PLAIN_TEMPLATES: dict[str, tuple[dict, tuple[str, ...]]] = {
    "insult_individual": ({"t": 1, "i": 1, "a": 0, "h": 0}, (
        "You are a pathetic loser.", "Shut up, you moron.", "You're so dumb it hurts.",
        "What an idiot you are.", "Nobody likes you, you worthless clown.", "Your opinion is as useless as you are.",
        "You absolute imbecile, read before you post.", "Go away, you disgusting creep.",
        "You're a lying snake and everyone knows it.", "Your brain must be the size of a pea.",
        "He is the stupidest man I have ever met.", "She's a brainless, spiteful cow.",
    )),
    "insult_nonprotected_group": ({"t": 1, "i": 1, "a": 0, "h": 0}, (
        "Drivers who don't use their turn signals are morons.", "People who reply-all are idiots.",
        "Flat-earthers are brainless fools.", "Anyone who puts pineapple on pizza is an imbecile.",
        "Fans of that team are a bunch of clowns.", "Tax cheats are worthless parasites.",
    )),
    "threat_individual": ({"t": 1, "h": 1, "a": 0, "s": 1}, (
        "I will find you and break your neck.", "Watch your back, I'm coming for you.",
        "If you say that again I'll smash your face in.", "I know where you live and I'm going to hurt you.",
        "You'll regret this when I burn your car.", "I'm going to kill you.",
        "Keep talking and you'll end up in a hospital bed.", "I swear I will beat you until you stop breathing.",
    )),
    "profanity_no_target": ({"o": 1, "a": 0, "i": 0, "h": 0}, (
        "Fuck, I missed the bus again.", "Holy shit, that concert was amazing!", "Damn, this traffic is terrible.",
        "This fucking weather, it rained all week.", "Shit, I forgot my keys.", "Well, that was a fucking great game.",
        "Oh crap, the oven is still on.", "Bloody hell, the printer jammed again.",
    )),
    "benign": (_ZERO, (
        "Assassin's Creed is a fun game.", "I ordered a cocktail at the bar.", "We drove through Scunthorpe on the way.",
        "The cockpit of the plane was tiny.", "She plays bass guitar in a band.", "My therapist helped me a lot.",
        "The analysis is due on Friday.", "Shiitake mushrooms are great in soup.", "Essex is lovely in summer.",
        "The class went on a trip to the museum.", "Have a lovely day!", "Thanks for the quick reply.",
        "I killed it at the presentation today.", "This workout is killing me, but I love it.",
        "The movie was about a serial killer, very tense.", "Can you send me the report by noon?",
        "My cat knocked a glass off the table.", "Cute puppy pictures always cheer me up.",
        "Kill the old job before you start a new one.", "Shoot me an email when you are free.",
        "That party was the bomb.", "The new phone is a killer app machine.", "Execute the script twice.",
        "The sniper in that video game is overpowered.", "Moby Dick is a long novel.", "Philip K. Dick wrote great books.",
        "We walked along Dyke Road in Brighton.", "The hitman movie got great reviews.", "Cockermouth is a small town.",
        "Middlesex University has a big campus.", "Penistone is near Sheffield.", "The executioner is a chess opening?",
        "sniper", "hitman", "executioner", "warlord", "cocktails and canapes", "Middlesbrough", "bass fishing",
    )),
}
