"""Conversations of real recorded voices with known speaker turns (issue 16).

Each source is one human speaker: the Asterisk telephone prompts (one voice talent per
language, recorded speech) and Festival voices built from one real speaker's recordings
(diphone and HTS voices: synthesised, but each from one person's voice). Dev and test use
different speakers, so the test set is never tuned on. Same file layout as synth.py:
NAME.wav (16 kHz mono), NAME.rttm and NAME.json (turns, each with its source and text).

    apt-get install -y asterisk-core-sounds-{en,es,fr,it,ru}-wav festival \\
        festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k \\
        festvox-itapc16k festvox-ru festvox-czech-dita festvox-czech-machac
    python bench/diarization/voices.py OUT --set dev     # the files tuned on
    python bench/diarization/voices.py OUT --set test    # the files only scored
    python bench/diarization/voices.py --cosines         # d-vector cosines between sources
    python bench/diarization/voices.py OUT --set dev --variant 1   # more files, same speakers

A variant K > 0 draws its own groups of the set's speakers (two per count) and its own turns
(seed SEEDS[set] + K): more files to tune a choice on (dev), or fresh files to score once
(test) after the published ones have been scored.

Every turn goes through an 8 kHz telephone band (the Asterisk prompts are 8 kHz), so the
channel's bandwidth tells no speaker from another; each turn is brought to one speech level.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from synth import SENTENCES, VOICES, speak, write  # beside this file, as run directly

RATE = 16000
ASTERISK = Path("/usr/share/asterisk/sounds")
MIN_TURN, MAX_TURN = 2.0, 5.0  # seconds of speech in one turn
LEVEL_DBFS = -24.0  # every turn's RMS over its voiced frames
# Sample rate every turn passes through. --band 16000 keeps the Festival voices wideband (the
# prompts stay 8 kHz, so bandwidth then tells them apart): a check, not the published sets.
BAND = 8000

# name: (kind, where, sex, language). One name, one person; the language only picks texts.
SOURCES = {
    "allison-en": ("asterisk", "en_US_f_Allison", "f", "en"),
    "allison-es": ("asterisk", "es_MX_f_Allison", "f", "es"),  # same person: in no set
    "june-fr": ("asterisk", "fr_CA_f_June", "f", "fr"),
    "carlo-it": ("asterisk", "it_IT_m_Carlo", "m", "it"),
    "ivr-ru": ("asterisk", "ru_RU_f_IvrvoiceRU", "f", "ru"),
    "kal-en": ("festival", "kal_diphone", "m", "en"),
    "ked-en": ("festival", "ked_diphone", "m", "en"),
    "slt-en": ("festival", "cmu_us_slt_arctic_hts", "f", "en"),
    "lp-it": ("festival", "lp_diphone", "f", "it"),
    "pc-it": ("festival", "pc_diphone", "m", "it"),
    "nsh-ru": ("festival", "msu_ru_nsh_clunits", "m", "ru"),
    "dita-cs": ("festival", "czech_dita", "f", "cs"),
    "machac-cs": ("festival", "czech_machac", "m", "cs"),
}
# Six speakers a set, three of each sex, recorded prompts and Festival voices in both.
SPEAKERS = {
    "dev": ["allison-en", "carlo-it", "kal-en", "slt-en", "lp-it", "nsh-ru"],
    "test": ["june-fr", "pc-it", "ked-en", "ivr-ru", "machac-cs", "dita-cs"],
}
# Files per set: (speakers, as indices into SPEAKERS[set]; overlapping turns; seed).
# Each speaker count has two groups, one of them with two speakers of one sex.
GROUPS = {
    "dev": [(0, 1), (3, 4), (0, 2, 3), (1, 4, 5), (0, 1, 2, 3), (2, 3, 4, 5)],
    "test": [(0, 1), (0, 3), (0, 1, 2), (2, 4, 3), (0, 1, 2, 3), (2, 3, 4, 5)],
}
SEEDS = {"dev": 100, "test": 200}

# Texts for the Festival voices that do not speak English (the English ones use synth.py's).
TEXTS = {
    "it": [
        "Buongiorno, grazie a tutti per essere qui oggi.",
        "Vorrei cominciare dal bilancio del prossimo trimestre.",
        "I server sono stati aggiornati la settimana scorsa senza problemi.",
        "Puoi mandarmi il programma aggiornato prima di venerdì?",
        "Dobbiamo ancora decidere come sarà il nuovo ufficio.",
        "Il cliente ha chiesto una dimostrazione all'inizio del mese.",
        "Penso che dovremmo assumere due ingegneri in primavera.",
        "Guardiamo insieme i risultati del sondaggio.",
        "Il treno era di nuovo in ritardo, così ho perso la riunione.",
        "Le vendite sono cresciute del dodici per cento rispetto all'anno scorso.",
        "Ricordati di prenotare la sala riunioni per martedì.",
        "Mi sembra ragionevole, ma i tempi sono piuttosto stretti.",
    ],
    "ru": [
        "Доброе утро, спасибо всем, что пришли сегодня.",
        "Я хотел бы начать с бюджета на следующий квартал.",
        "Серверы обновили на прошлой неделе без всяких проблем.",
        "Пришлите мне, пожалуйста, новое расписание до пятницы.",
        "Нам ещё нужно решить, каким будет новый офис.",
        "Клиент попросил показать систему в начале месяца.",
        "Я думаю, весной нам нужно нанять ещё двух инженеров.",
        "Давайте вместе посмотрим результаты опроса.",
        "Поезд опять опоздал, и я пропустил первое совещание.",
        "Наши продажи выросли на двенадцать процентов за год.",
        "Не забудьте заказать переговорную на вторник.",
        "Звучит разумно, но сроки довольно сжатые.",
    ],
    "cs": [
        "Dobré ráno, děkuji všem, že jste dnes přišli.",
        "Rád bych začal rozpočtem na příští čtvrtletí.",
        "Servery jsme minulý týden aktualizovali bez potíží.",
        "Můžete mi poslat nový rozvrh ještě před pátkem?",
        "Ještě musíme rozhodnout, jak bude vypadat nová kancelář.",
        "Zákazník chce ukázku hned na začátku příštího měsíce.",
        "Myslím, že na jaře bychom měli přijmout dva inženýry.",
        "Podívejme se spolu na výsledky průzkumu.",
        "Vlak měl zase zpoždění, a tak jsem zmeškal poradu.",
        "Naše tržby vzrostly o dvanáct procent oproti loňsku.",
        "Nezapomeňte zamluvit zasedačku na úterý.",
        "To zní rozumně, ale termín je dost napjatý.",
    ],
}
TEXTS["en"] = SENTENCES
# What each voice's letter-to-sound rules read (Russian: UTF-8); a wrong one stops text2wave.
ENCODING = {"cs": "iso-8859-2", "it": "iso-8859-1", "en": "ascii"}
SKIP = ("tone", "beep", "monkeys", "weasels", "silence")  # prompts that are not one voice


def trim(audio: np.ndarray, rate: int) -> np.ndarray:
    """Cut the silence at both ends: 10 ms frames quieter than 40 dB below the loudest."""
    hop = rate // 100
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    if not len(frames):
        return audio[:0]
    energy = 10 * np.log10((frames**2).mean(1) + 1e-12)
    voiced = np.flatnonzero(energy > energy.max() - 40)
    return audio[voiced[0] * hop : (voiced[-1] + 1) * hop]


def telephone(audio: np.ndarray, rate: int) -> np.ndarray:
    """To BAND (8 kHz) and up to RATE: one band for every source; one speech level."""
    if rate > BAND:
        audio, rate = resample_poly(audio, BAND, rate), BAND
    audio = trim(resample_poly(audio, RATE, rate), RATE)
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    power = (frames**2).mean(1)
    speech = power[power > power.max() * 1e-3].mean()  # voiced frames only
    return audio * 10 ** ((LEVEL_DBFS - 10 * np.log10(speech)) / 20)


def read(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 1, path
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return pcm.astype(np.float32) / 32768, rate


def prompts(folder: str) -> list[tuple[Path, np.ndarray]]:
    """Every prompt of one Asterisk voice with MIN_TURN-MAX_TURN s of speech, by name."""
    found = []
    for path in sorted((ASTERISK / folder).rglob("*.wav")):
        if any(word in str(path.relative_to(ASTERISK)) for word in SKIP):
            continue
        audio, rate = read(path)
        if MIN_TURN <= len(trim(audio, rate)) / rate <= MAX_TURN:
            found.append((path, telephone(audio, rate)))
    return found


def festival(voice: str, text: str, language: str, tmp: Path) -> np.ndarray:
    out = tmp / "turn.wav"
    cmd = ["text2wave", "-eval", f"(voice_{voice})", "-o", str(out)]
    # text2wave says "using default diphone" on stderr for rare pairs; quiet unless it fails
    done = subprocess.run(cmd, input=text.encode(ENCODING.get(language, "utf-8")),
                          capture_output=True)  # fmt: skip
    if done.returncode or not out.exists() or out.stat().st_size < 1000:
        raise RuntimeError(f"text2wave {voice} failed on {text!r}: {done.stderr[-500:]!r}")
    out_audio = telephone(*read(out))
    out.unlink()
    return out_audio


class Speaker:
    """Turns of one source, each text used once before any repeats."""

    def __init__(self, name: str, rng: random.Random, tmp: Path) -> None:
        self.name, self.rng, self.tmp = name, rng, tmp
        self.kind, self.where, self.sex, self.language = SOURCES[name]
        self.pool: list = []
        self.prompts = prompts(self.where) if self.kind == "asterisk" else []

    def turn(self) -> tuple[np.ndarray, str]:
        if not self.pool:
            self.pool = list(self.prompts or TEXTS[self.language])
            self.rng.shuffle(self.pool)
        item = self.pool.pop()
        if self.kind == "asterisk":
            path, audio = item
            return audio, str(path.relative_to(ASTERISK))
        return festival(self.where, item, self.language, self.tmp), item


def conversation(
    speakers: list[Speaker], turns: int, overlap: bool, rng: random.Random
) -> tuple[np.ndarray, list]:
    """synth.py's turn-taking: everyone speaks first in order, then at random, never one
    speaker twice in a row; ``overlap`` starts a turn 0.3-1.0 s before the last one ends."""
    pieces, script, t, previous = [], [], 0.5, -1
    order = list(range(len(speakers))) + [rng.randrange(len(speakers)) for _ in range(turns)]
    for i in order[:turns]:
        if i == previous:
            i = (i + 1) % len(speakers)
        audio, text = speakers[i].turn()
        start = t - (rng.uniform(0.3, 1.0) if overlap and script else 0.0)
        start = max(start, script[-1]["start"] + 0.5) if script else start
        pieces.append((start, audio))
        end = start + len(audio) / RATE
        script.append({"speaker": speakers[i].name, "start": round(start, 3),
                       "end": round(end, 3), "text": text})  # fmt: skip
        t = end + (0.0 if overlap else rng.uniform(0.3, 0.9))
        previous = i
    total = np.zeros(int((t + 0.5) * RATE), dtype=np.float32)
    for start, audio in pieces:
        s = int(start * RATE)
        total[s : s + len(audio)] += audio
    return total / max(1.0, float(np.abs(total).max()) / 0.9), script


def groups(which: str, variant: int, rng: random.Random) -> list[tuple[int, ...]]:
    """The published groups (variant 0), or two drawn at random per speaker count."""
    if variant == 0:
        return GROUPS[which]
    people = range(len(SPEAKERS[which]))
    return [tuple(rng.sample(people, n)) for n in (2, 2, 3, 3, 4, 4)]


def build(out: Path, which: str, turns: int, variant: int = 0) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEEDS[which] + variant)
    prefix = f"{which}{variant or ''}"
    with tempfile.TemporaryDirectory() as tmp:
        people = {n: Speaker(n, rng, Path(tmp)) for n in SPEAKERS[which]}
        counts: dict[int, int] = {}
        for group in groups(which, variant, rng):
            counts[len(group)] = counts.get(len(group), 0) + 1
            label = "ab"[counts[len(group)] - 1]
            speakers = [people[SPEAKERS[which][i]] for i in group]
            for overlap in (False, True):
                name = f"{prefix}-{len(group)}v{label}{'-overlap' if overlap else ''}"
                audio, script = conversation(speakers, turns, overlap, rng)
                write(out, name, audio, script)
                who = ", ".join(f"{s.name} ({s.sex})" for s in speakers)
                print(f"{name}: {len(audio) / RATE:.1f} s, {len(script)} turns: {who}")


def cosines(per_source: int) -> None:
    """Mean cosine between the d-vectors of different turns: one source against another,
    and (diagonal) two turns of one source. The encoder is the pipeline's, on whole turns.
    synth.py's dev voices (espeak-ng, same band and level) are the last rows, to compare."""
    import torch

    from transcriber_cli.diarize.builtin import DVECTOR
    from transcriber_cli.diarize.dvector import DVectorEmbedding

    encoder = DVectorEmbedding(DVECTOR)
    names = list(SOURCES)
    embeds = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            speaker = Speaker(name, random.Random(1), Path(tmp))
            rows = []
            for _ in range(per_source):
                audio = torch.from_numpy(speaker.turn()[0].astype(np.float32))
                rows.append(encoder(audio[None, None])[0])
            embeds[name] = np.stack(rows)
        for voice in VOICES["dev"]:
            name = f"espeak {voice[0]}/p{voice[1]}"
            turns = [telephone(speak(t, voice, Path(tmp)), RATE) for t in SENTENCES]
            rows = [encoder(torch.from_numpy(a.astype(np.float32))[None, None])[0]
                    for a in turns[:per_source]]  # fmt: skip
            embeds[name] = np.stack(rows)
            names.append(name)
    sex = {n: s[2] for n, s in SOURCES.items()}
    print("| | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for a in names:
        cells = []
        for b in names:
            sim = embeds[a] @ embeds[b].T
            if a == b:  # leave out each turn against itself
                sim = sim[~np.eye(len(sim), dtype=bool)]
            cells.append(f"{sim.mean():.2f}")
        print(f"| {a}{f' ({sex[a]})' if a in sex else ''} | " + " | ".join(cells) + " |")


def main() -> None:
    global BAND
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path, nargs="?")
    parser.add_argument("--set", choices=sorted(SPEAKERS), default="dev")
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument(
        "--cosines", type=int, nargs="?", const=12, metavar="TURNS",
        help="print the cosine matrix of the sources (TURNS turns each) and stop",
    )  # fmt: skip
    parser.add_argument("--variant", type=int, default=0, help="0: the published set")
    parser.add_argument("--band", type=int, default=BAND, help="Hz; 8000 for the published sets")
    args = parser.parse_args()
    BAND = args.band
    if args.cosines:
        cosines(args.cosines)
    elif args.out is None:
        parser.error("OUT is needed to build a set")
    else:
        build(args.out, args.set, args.turns, args.variant)


if __name__ == "__main__":
    main()
