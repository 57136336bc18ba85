/*
** cli.h: what the files of the `eryx` command share (private to cli/):
** main.c parses the options and runs code; repl.c is the interactive
** session.
*/
#ifndef ERYX_CLI_H
#define ERYX_CLI_H

#include <eryx.h>

/* ---- repl.c ---- */

/* Read statements from the terminal and run them in `session` until
   Ctrl-D, as Python's REPL does (docs/cli.md).  History is kept in
   $ERYX_HISTORY, by default ~/.eryx_history.  SIGINT must be blocked in
   every thread of the process (repl_block_sigint, before the engine starts
   its threads).  Returns the exit status. */
int repl_run(eryx_session *session);
/* Block SIGINT in the calling thread and in the threads it starts later;
   the REPL takes it through sigwait. */
void repl_block_sigint(void);

#endif /* ERYX_CLI_H */
