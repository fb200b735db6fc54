/*
 * binary_client.c
 *		What a client sees of vector, halfvec, sparsevec and bit through
 *		libpq's binary paths: parameters and results in binary
 *		(PQexecParams with paramFormats and resultFormat 1), and COPY
 *		(FORMAT binary) out of a table and back into another.
 *
 *	binary_client    (libpq environment: PGHOST, PGPORT, PGDATABASE, ...)
 *
 * Each value is encoded here from the formats README.md documents, so the
 * server must send back exactly these bytes, and the value must equal the
 * one its text form gives.  One malformed value per type must fail with
 * its SQLSTATE.  Prints TAP (test/run counts it); exit status 1 when a
 * check failed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libpq-fe.h"

#define MAX_BYTES 64
#define MAX_STREAM 4096
#define NTYPES 4

typedef struct Bytes
{
	unsigned char data[MAX_BYTES];
	int			len;
} Bytes;

typedef struct TypeCase
{
	const char *type;			/* SQL type, with a typmod where it must */
	const char *text;			/* the value's text form */
	Bytes		binary;			/* its binary form, built by build_cases */
	Bytes		malformed;		/* a value recv must refuse ... */
	const char *sqlstate;		/* ... with this SQLSTATE */
} TypeCase;

/* malformed: a non-zero reserved field; a NaN; a zero value; a negative length */
static TypeCase cases[NTYPES] = {
	{.type = "vector", .text = "[1.5,-2,0.1,-0]", .sqlstate = "22P03"},
	{.type = "halfvec", .text = "[1,-2.5,65504,5.9604645e-08]", .sqlstate = "22000"},
	{.type = "sparsevec", .text = "{1:1.5,5:-2,10:0.25}/10", .sqlstate = "22P03"},
	{.type = "bit(11)", .text = "10110011101", .sqlstate = "22P03"},
};

static PGconn *conn;
static int	tests;
static int	failures;

static void
report(int ok, const char *what, const char *type)
{
	tests++;
	if (!ok)
		failures++;
	printf("%sok %d - %s: %s\n", ok ? "" : "not ", tests, type, what);
}

/* Append big-endian integers and floats to b. */
static void
put16(Bytes *b, uint16_t x)
{
	b->data[b->len++] = x >> 8;
	b->data[b->len++] = x & 0xff;
}

static void
put32(Bytes *b, uint32_t x)
{
	put16(b, x >> 16);
	put16(b, x & 0xffff);
}

static void
putf4(Bytes *b, float f)
{
	uint32_t	x;

	memcpy(&x, &f, sizeof(x));
	put32(b, x);
}

/*
 * The binary forms: vector and halfvec are int16 dimensions, int16 zero
 * and the elements (float4, float16 bits); sparsevec is int32 dimensions,
 * int32 count, int32 zero, the 0-based indices, then the values; bit is
 * PostgreSQL's: int32 length in bits, then the bits, padded with zeros.
 */
static void
build_cases(void)
{
	static const float vector_elements[] = {1.5f, -2.0f, 0.1f, -0.0f};
	static const uint16_t halfvec_bits[] = {0x3c00, 0xc100, 0x7bff, 0x0001};
	static const uint32_t sparse_indices[] = {0, 4, 9};
	static const float sparse_values[] = {1.5f, -2.0f, 0.25f};
	Bytes	   *b;

	b = &cases[0].binary;
	put16(b, 4);
	put16(b, 0);
	for (int i = 0; i < 4; i++)
		putf4(b, vector_elements[i]);
	b = &cases[1].binary;
	put16(b, 4);
	put16(b, 0);
	for (int i = 0; i < 4; i++)
		put16(b, halfvec_bits[i]);
	b = &cases[2].binary;
	put32(b, 10);
	put32(b, 3);
	put32(b, 0);
	for (int i = 0; i < 3; i++)
		put32(b, sparse_indices[i]);
	for (int i = 0; i < 3; i++)
		putf4(b, sparse_values[i]);
	b = &cases[3].binary;
	put32(b, 11);
	b->data[b->len++] = 0xb3;	/* 1011 0011 */
	b->data[b->len++] = 0xa0;	/* 101 and five bits of padding */

	/* the malformed values cases[] lists */
	b = &cases[0].malformed;
	put16(b, 1);
	put16(b, 1);
	putf4(b, 1.0f);
	b = &cases[1].malformed;
	put16(b, 1);
	put16(b, 0);
	put16(b, 0x7e00);
	b = &cases[2].malformed;
	put32(b, 10);
	put32(b, 1);
	put32(b, 0);
	put32(b, 3);
	putf4(b, 0.0f);
	b = &cases[3].malformed;
	put32(b, 0xffffffff);
}

/*
 * Bound parameters: SELECT $1::type with $1 in binary, the result in
 * binary, must return the same bytes, and equal the text form's value.
 */
static void
check_parameter(const TypeCase *c)
{
	char		sql[128];
	const char *values[2] = {(const char *) c->binary.data, c->text};
	int			lengths[2] = {c->binary.len, 0};
	int			formats[2] = {1, 0};
	PGresult   *res;
	int			ok;

	snprintf(sql, sizeof(sql), "SELECT $1::%s, $1::%s = $2::%s", c->type, c->type, c->type);
	res = PQexecParams(conn, sql, 2, NULL, values, lengths, formats, 1);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (!ok)
		fprintf(stderr, "%s", PQerrorMessage(conn));
	report(ok && PQgetlength(res, 0, 0) == c->binary.len &&
		   memcmp(PQgetvalue(res, 0, 0), c->binary.data, c->binary.len) == 0,
		   "a binary parameter comes back as a binary result, byte for byte", c->type);
	report(ok && PQgetlength(res, 0, 1) == 1 && PQgetvalue(res, 0, 1)[0] == 1,
		   "and equals the value of its text form", c->type);
	PQclear(res);
}

/* A malformed binary parameter fails with the expected SQLSTATE. */
static void
check_malformed(const TypeCase *c)
{
	char		sql[64];
	const char *values[1] = {(const char *) c->malformed.data};
	int			lengths[1] = {c->malformed.len};
	int			formats[1] = {1};
	PGresult   *res;
	const char *state;
	char		what[96];

	snprintf(sql, sizeof(sql), "SELECT $1::%s", c->type);
	res = PQexecParams(conn, sql, 1, NULL, values, lengths, formats, 1);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(what, sizeof(what), "a malformed binary parameter fails with %s (got %s)",
			 c->sqlstate, state ? state : "none");
	report(PQresultStatus(res) == PGRES_FATAL_ERROR && state && strcmp(state, c->sqlstate) == 0,
		   what, c->type);
	PQclear(res);
}

static int
exec_ok(const char *sql, ExecStatusType expected)
{
	PGresult   *res = PQexec(conn, sql);
	int			ok = PQresultStatus(res) == expected;

	if (!ok)
		fprintf(stderr, "%s: %s", sql, PQerrorMessage(conn));
	PQclear(res);
	return ok;
}

/* The result that ends a COPY is a success; drains the results. */
static int
copy_finished(void)
{
	PGresult   *res;
	int			ok = 1;

	while ((res = PQgetResult(conn)) != NULL)
	{
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			fprintf(stderr, "COPY: %s", PQerrorMessage(conn));
			ok = 0;
		}
		PQclear(res);
	}
	return ok;
}

/* COPY ... TO STDOUT: the whole stream into buf; its length, or -1. */
static int
copy_out(const char *sql, unsigned char *buf)
{
	char	   *chunk;
	int			n;
	int			len = 0;

	if (!exec_ok(sql, PGRES_COPY_OUT))
		return -1;
	while ((n = PQgetCopyData(conn, &chunk, 0)) > 0)
	{
		if (len + n <= MAX_STREAM)
			memcpy(buf + len, chunk, n);
		len += n;
		PQfreemem(chunk);
	}
	return copy_finished() && len <= MAX_STREAM ? len : -1;
}

/* COPY ... FROM STDIN with the stream buf, sent in two pieces. */
static int
copy_in(const char *sql, const unsigned char *buf, int len)
{
	if (!exec_ok(sql, PGRES_COPY_IN))
		return 0;
	if (PQputCopyData(conn, (const char *) buf, len / 2) != 1 ||
		PQputCopyData(conn, (const char *) buf + len / 2, len - len / 2) != 1 ||
		PQputCopyEnd(conn, NULL) != 1)
		return 0;
	return copy_finished();
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/*
 * The fields of the first tuple of a binary COPY stream: after the
 * signature (11 bytes), flags and header extension, an int16 field count,
 * then each field's int32 length (-1 for NULL) and bytes.  Fills
 * fields[i] (NULL for a NULL) and lengths[i]; returns the field count, or
 * -1 when the stream is too short for what it says.
 */
static int
first_tuple(const unsigned char *buf, int len, const unsigned char **fields, int *lengths,
			int max_fields)
{
	int			pos = 11 + 8;
	int			nfields;

	if (len < pos + 2)
		return -1;
	pos += get32(buf + 15);
	nfields = buf[pos] << 8 | buf[pos + 1];
	pos += 2;
	for (int i = 0; i < nfields && i < max_fields; i++)
	{
		if (pos + 4 > len)
			return -1;
		lengths[i] = (int32_t) get32(buf + pos);
		pos += 4;
		fields[i] = lengths[i] < 0 ? NULL : buf + pos;
		pos += lengths[i] < 0 ? 0 : lengths[i];
		if (pos > len)
			return -1;
	}
	return nfields;
}

/*
 * COPY (FORMAT binary) of a row of the four values and a row of NULLs:
 * the fields out are the bytes encoded here; the stream copied into
 * another table gives the same values, and that table copies out the
 * same stream.
 */
static void
check_copy(void)
{
	static unsigned char out[MAX_STREAM];
	static unsigned char again[MAX_STREAM];
	const unsigned char *fields[NTYPES + 1];
	int			lengths[NTYPES + 1];
	char		sql[512];
	int			len;
	int			nfields;
	PGresult   *res;

	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE bc (id int, v vector, h halfvec, s sparsevec, b bit(11));"
			 "CREATE TEMP TABLE bc_in (LIKE bc);"
			 "INSERT INTO bc VALUES (1, '%s', '%s', '%s', '%s'), (2, NULL, NULL, NULL, NULL)",
			 cases[0].text, cases[1].text, cases[2].text, cases[3].text);
	if (!exec_ok(sql, PGRES_COMMAND_OK))
		exit(1);
	len = copy_out("COPY (SELECT * FROM bc ORDER BY id) TO STDOUT (FORMAT binary)", out);
	nfields = len < 0 ? -1 : first_tuple(out, len, fields, lengths, NTYPES + 1);
	report(nfields == NTYPES + 1, "COPY TO STDOUT (FORMAT binary) sends a tuple of 5 fields", "all");
	for (int i = 0; i < NTYPES; i++)
		report(nfields == NTYPES + 1 && fields[i + 1] && lengths[i + 1] == cases[i].binary.len &&
			   memcmp(fields[i + 1], cases[i].binary.data, cases[i].binary.len) == 0,
			   "COPY out sends the binary form, byte for byte", cases[i].type);

	report(len > 0 && copy_in("COPY bc_in FROM STDIN (FORMAT binary)", out, len),
		   "the stream copies back in (COPY FROM STDIN (FORMAT binary))", "all");
	res = PQexec(conn, "SELECT count(*) FROM bc a JOIN bc_in b USING (id) WHERE a.v IS NOT DISTINCT FROM b.v"
				 " AND a.h IS NOT DISTINCT FROM b.h AND a.s IS NOT DISTINCT FROM b.s"
				 " AND a.b IS NOT DISTINCT FROM b.b");
	report(PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "2") == 0,
		   "the copied rows have the original values, NULLs too", "all");
	PQclear(res);
	report(len > 0 && copy_out("COPY (SELECT * FROM bc_in ORDER BY id) TO STDOUT (FORMAT binary)", again) == len &&
		   memcmp(out, again, len) == 0,
		   "and copy out the same stream, byte for byte", "all");
}

int
main(void)
{
	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s", PQerrorMessage(conn));
		return 1;
	}
	if (!exec_ok("SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS ann", PGRES_COMMAND_OK))
		return 1;
	build_cases();
	for (int i = 0; i < NTYPES; i++)
	{
		check_parameter(&cases[i]);
		check_malformed(&cases[i]);
	}
	check_copy();
	printf("1..%d\n", tests);
	PQfinish(conn);
	return failures > 0;
}
