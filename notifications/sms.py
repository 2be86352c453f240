"""SMS text rules: segment counting and the unaccented mode.

Vietnamese with diacritics needs UCS-2: 70 characters in one segment, 67 per segment when
split. Plain ASCII-ish text fits GSM-7: 160, then 153. Each segment is paid for and each is a
chance to be lost, so the unaccented mode exists for communes that prefer cost to diacritics."""

import unicodedata

# GSM 03.38 basic character set (the extension table costs two septets; counted below).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXT for c in text)


def segments(text: str) -> int:
    if is_gsm7(text):
        costs, single, per = [2 if c in _GSM_EXT else 1 for c in text], 160, 153
    else:
        # UCS-2 code units: two for a character beyond the BMP (a surrogate pair)
        costs, single, per = [1 if ord(c) < 0x10000 else 2 for c in text], 70, 67
    if sum(costs) <= single:
        return 1
    # A character is never split across segments (an escape sequence, a surrogate pair), so a
    # segment may end one unit short: pack greedily rather than divide.
    count, used = 1, 0
    for cost in costs:
        if used + cost > per:
            count, used = count + 1, 0
        used += cost
    return count


def unaccent(text: str) -> str:
    """Vietnamese without diacritics ('Đã quá hạn' -> 'Da qua han'), for GSM-7."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
