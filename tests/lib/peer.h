/*
 * peer.h - a scripted peer for the QMP and agent client tests.
 * A forked child plays the other side of a transcript on one socket:
 *   "> TEXT"  send TEXT and a line ending ($NAME: a value captured below)
 *   "< TEXT"  read one line; it must equal TEXT as JSON ("$NAME" strings
 *             match anything and capture it), or byte for byte if not JSON
 *   "sleep MS", "close" (hang up), "hold" (wait for the client to hang up)
 *   "every A => B"  answer B to each line matching A until the client hangs up
 * \xNN in TEXT is a raw byte. The child exits 0 when the client did exactly
 * what the transcript says, else 2 and a note on stderr. */
#ifndef TEST_PEER_H
#define TEST_PEER_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/loop.h"

/* Line ending of what the peer sends ("\r\n" as QMP; the agent uses "\n"). */
extern const char *peer_eol;

/* Plays script on one end of a socketpair; *client_fd is the other end. */
pid_t peer_start(const char *script, int *client_fd);
/* Plays script to each of `clients` clients of a UNIX socket at path. */
pid_t peer_listen(const char *path, const char *script, int clients);
/* The peer's verdict: 0 when the client followed the transcript. */
int peer_wait(pid_t pid);

/* tests/data/transcripts/NAME, read whole (aborts when missing). */
char *transcript(const char *name);
/* Runs the loop until *flag or max_ms. */
bool run_until(struct loop *lp, const bool *flag, int max_ms);

#endif
