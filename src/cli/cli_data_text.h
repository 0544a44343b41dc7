/* `ibx data` for text datasets (cli_data_text.c): called by cli_data.c. */
#ifndef IBX_CLI_DATA_TEXT_H
#define IBX_CLI_DATA_TEXT_H

/* 1 when argv (argv[0] = "data") asks for a text dataset: the action is
 * baseline, --format is fortunes, imdb or text-h5, or --format h5 names a
 * text dataset file (or a directory holding a text train.h5). */
int ibx_cli_data_is_text(int argc, char **argv);
/* Runs it; returns the exit status. */
int ibx_cmd_data_text(int argc, char **argv);

#endif
