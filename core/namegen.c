/* namegen.c - see namegen.h. The surnames honour people of computing and
 * security research. */
#include "core/namegen.h"

#include <stdio.h>

#include "core/util.h"

static const char *const ADJECTIVES[] = {
    "agile",   "bold",    "brave",   "bright",  "calm",    "clever",  "crisp",   "daring",
    "eager",   "fearless", "gentle", "happy",   "keen",    "kind",    "lively",  "lucid",
    "mellow",  "nimble",  "patient", "plucky",  "quiet",   "quick",   "rapid",   "serene",
    "sharp",   "silent",  "steady",  "stoic",   "sturdy",  "swift",   "tidy",    "vivid",
    "wise",    "witty",   "zealous", "zen",
};

static const char *const SURNAMES[] = {
    "allen",    "babbage",  "backus",   "baran",    "bell",     "cerf",     "clarke",
    "diffie",   "dijkstra", "engelbart", "feistel", "goldberg", "hamming",  "hellman",
    "hopper",   "kahn",     "kernighan", "knuth",   "lamport",  "liskov",   "lovelace",
    "mccarthy", "merkle",   "morris",   "naur",     "neumann",  "ritchie",  "rivest",
    "shamir",   "shannon",  "stallman", "thompson", "torvalds", "turing",   "wirth",
    "wozniak",
};

void namegen_make(unsigned seed, char *buf, size_t cap)
{
    /* Mix the seed so consecutive seeds give unrelated names. */
    unsigned h = seed * 2654435761u;
    h ^= h >> 15;
    snprintf(buf, cap, "%s_%s", ADJECTIVES[h % IB_ARRAY_LEN(ADJECTIVES)],
             SURNAMES[(h / IB_ARRAY_LEN(ADJECTIVES)) % IB_ARRAY_LEN(SURNAMES)]);
}
