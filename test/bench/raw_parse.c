/*
 * raw_parse.c — the baseline of test/bench/lint.sh: PostgreSQL's raw_parser()
 * alone on a script, nothing else.  Built and loaded by the benchmark only;
 * not part of the extension.
 */
#include "postgres.h"

#include "fmgr.h"
#include "parser/parser.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(bench_raw_parse);

/* bench_raw_parse(script) → the number of statements raw_parser() finds. */
Datum
bench_raw_parse(PG_FUNCTION_ARGS)
{
	char	   *script = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *stmts;

#if PG_VERSION_NUM >= 140000
	stmts = raw_parser(script, RAW_PARSE_DEFAULT);
#else
	stmts = raw_parser(script);
#endif
	PG_RETURN_INT32(list_length(stmts));
}
