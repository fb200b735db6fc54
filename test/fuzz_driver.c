/*
 * fuzz_driver.c
 *		The client of test/fuzz: generates inputs for ann's parsers and
 *		checks that the server accepts each or refuses it with an expected
 *		SQLSTATE, and never crashes or hangs.
 *
 *	fuzz_driver [-n COUNT] [-t SECONDS] [-s SEED]    (libpq environment)
 *
 * Text-like inputs go in batches to fuzz.run() (test/fuzz.sql), which
 * tries each in a subtransaction; binary inputs must reach vector_recv,
 * halfvec_recv and sparsevec_recv as bound parameters, so they go one statement each, many
 * in flight (libpq pipeline mode, a sync after each so that one error
 * does not abort the next).  Inputs come from a grammar of vector text
 * (numbers with exponents, hex floats, NaN and infinities, values past
 * float32 and float16, whitespace, wrong separators and brackets, 0 to
 * 70,000 elements, non-ASCII characters), from one of sparsevec text
 * ('{i:x,...}/dim' with indices in and out of range, repeated or
 * malformed), and from mutations of valid values (byte changes, cuts,
 * duplications, insertions).
 *
 * Prints inputs per category and outcomes per SQLSTATE, and one TAP line
 * per category (test/run counts them).  Exit status 1 when an outcome was
 * unexpected, a value failed its round trip, or the server restarted.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libpq-fe.h"

#define MAX_CODES 64
#define PIPELINE_DEPTH 128

typedef struct Category
{
	const char *name;			/* the kind fuzz.run takes, or "binary ..." */
	int			batch;			/* inputs per round */
	const char *allowed;		/* expected SQLSTATEs, space-separated */
	long		tried;
	int			ncodes;
	char		codes[MAX_CODES][6];
	long		counts[MAX_CODES];
	char	   *examples[MAX_CODES];
	int			unexpected;
	double		seconds;		/* time spent on it, generation included */
} Category;

/*
 * 22000 data_exception, 22003 out of range, 22023 invalid parameter,
 * 22004 null value, 22P02 invalid text, 22P03 invalid binary, 22021
 * invalid byte sequence, 54000 program limit, 08P01 protocol violation
 * (a truncated binary value).  The typmod casts go through the parser,
 * which refuses non-constant modifiers with 42601.
 */
static Category categories[] = {
	{"text vector", 3000, "00000 22P02 22000 22003 22023 54000"},
	{"text halfvec", 2000, "00000 22P02 22000 22003 22023 54000"},
	{"binary vector", 1000, "00000 22P03 22000 22023 54000 08P01"},
	{"binary halfvec", 700, "00000 22P03 22000 22023 54000 08P01"},
	{"typmod", 800, "00000 22P02 22023 22003 22000 22004 2202E 42601"},
	{"aggregate", 800, "00000 22P02 22000 22003 22004 54000 2202E"},
	{"subvector", 800, "00000 22P02 22000 22003 54000"},
	{"reloptions", 12, "00000 22023 22P02 22003"},
	{"text sparsevec", 1000, "00000 22P02 22000 22003 22023 54000"},
	{"binary sparsevec", 700, "00000 22P03 22000 22023 54000 08P01"},
};
#define NCATEGORIES (int) (sizeof(categories) / sizeof(categories[0]))

static PGconn *conn;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static int	failures;

/* ------------------------------------------------------------------
 * Random numbers and a growable string
 * ------------------------------------------------------------------
 */

static uint64_t
rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/* uniform in 0 .. n - 1 */
static long
below(long n)
{
	return n <= 0 ? 0 : (long) (rnd() % (uint64_t) n);
}

/* true with probability 1 / n */
static int
one_in(long n)
{
	return below(n) == 0;
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

#define PICK(array) (array)[below(sizeof(array) / sizeof((array)[0]))]

typedef struct Buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} Buf;

static void
buf_reserve(Buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap)
	{
		while (b->len + more + 1 > b->cap)
			b->cap = b->cap ? b->cap * 2 : 256;
		b->data = realloc(b->data, b->cap);
		if (b->data == NULL)
			abort();
	}
}

static void
buf_addn(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void
buf_add(Buf *b, const char *s)
{
	buf_addn(b, s, strlen(s));
}

static void
buf_printf(Buf *b, const char *fmt,...)
{
	char		tmp[512];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	buf_addn(b, tmp, n < (int) sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

static void
buf_reset(Buf *b)
{
	b->len = 0;
	buf_reserve(b, 0);
	b->data[0] = '\0';
}

/* ------------------------------------------------------------------
 * Text of vectors
 * ------------------------------------------------------------------
 */

/* Number-like tokens: edges of float32 and float16, and near misses. */
static const char *const number_tokens[] = {
	"0", "-0", "1", "-1", "0.5", "3.4028235e38", "-3.4028235e38", "3.4028236e38",
	"3.5e38", "1e39", "-1e39", "1.4e-45", "1e-45", "7e-46", "1e-50", "1.17549435e-38",
	"65504", "-65504", "65519", "65520", "65536", "6e-8", "5.96e-8", "2.98e-8", "1e-9",
	"nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-Infinity", "infinity", "INF",
	"0x1p-149", "0x1.fffffep127", "0x1p128", "0x", "0x1p", "1e", "1e+", "e5", ".", "-",
	"+", ".5", "5.", "+3", "--1", "1..2", "00001", "1e-999999999", "1e999999999",
	"99999999999999999999999999999999999999999", "0.000000000000000000000000000000000000000000001",
	"1_000", "1,5", "\xd9\xa3", "\xef\xbc\x91", "\xc2\xb5", "\xe2\x88\x9e", "NULL", "\"1\"",
	"'1'", "[1]", "{1}", "(1)", "1 2", "true", "",
};

/* Whitespace PostgreSQL's scanner knows, and some it does not. */
static const char *const spaces[] = {
	" ", "  ", "\t", "\n", "\r", "\f", "\v", "\xc2\xa0", "\xe3\x80\x80",
};

static void
add_space(Buf *b)
{
	if (one_in(6))
		buf_add(b, one_in(4) ? PICK(spaces) : " ");
}

/* A random number in one of the forms strtof reads. */
static void
add_number(Buf *b)
{
	switch (below(8))
	{
		case 0:
			buf_printf(b, "%ld", (long) below(2000001) - 1000000);
			break;
		case 1:
			buf_printf(b, "%.9g", ((double) (rnd() >> 11) / 9007199254740992.0 - 0.5) * 4);
			break;
		case 2:
			buf_printf(b, "%s%ld.%lde%s%ld", one_in(2) ? "-" : "", (long) below(100),
					   (long) below(1000000), one_in(2) ? "-" : "+", (long) below(60));
			break;
		case 3:
			buf_printf(b, "%ge%ld", (double) below(1000) / 7, (long) below(100) - 50);
			break;
		case 4:
			buf_printf(b, "%a", ((double) (rnd() >> 11) / 9007199254740992.0) * 70000);
			break;
		case 5:
			{
				/* the bits of a random float32, printed exactly */
				uint32_t	bits = (uint32_t) rnd();
				float		f;

				memcpy(&f, &bits, sizeof(f));
				buf_printf(b, "%.9g", (double) f);
				break;
			}
		default:
			buf_add(b, PICK(number_tokens));
			break;
	}
}

/* How many elements: mostly few, sometimes near and past the limits. */
static long
element_count(void)
{
	switch (below(400))
	{
		case 0:
			return one_in(10) ? 70000 : 15999 + below(3);
		case 1:
		case 2:
		case 3:
			return below(4000);
		case 4:
		case 5:
			return 0;
		default:
			return one_in(10) ? below(300) : 1 + below(16);
	}
}

/*
 * A vector's text: with good = 1, valid for vector (finite values in
 * float16 range unless big), else from the whole grammar.
 */
static void
gen_vector_text(Buf *b, long n, int good)
{
	static const char *const seps[] = {",", ",", ",", ";", " ", ",,", ", ,", ""};
	int			bracket = good || !one_in(15);

	add_space(b);
	if (bracket)
		buf_add(b, one_in(60) && !good ? PICK(((const char *[]) {"(", "{", "[[", "]"})) : "[");
	for (long i = 0; i < n; i++)
	{
		if (i > 0)
		{
			add_space(b);
			buf_add(b, good || !one_in(200) ? "," : PICK(seps));
		}
		add_space(b);
		if (good || !one_in(8))
			buf_printf(b, one_in(3) ? "%ld" : "%.6g", (long) below(2001) - 1000,
					   ((double) below(2000001) - 1000000) / 1000.0);
		else
			add_number(b);
		add_space(b);
	}
	if (bracket && (good || !one_in(30)))
		buf_add(b, "]");
	if (!good && one_in(40))
		buf_add(b, PICK(((const char *[]) {"x", "]", ",", " ]", "[", "\xe2\x82\xac", " 1"})));
	add_space(b);
}

/*
 * Replace what is not valid UTF-8 (or a NUL) by '?': the server would
 * refuse such text before it reached the type's parser.
 */
static void
make_utf8(Buf *b)
{
	unsigned char *p = (unsigned char *) b->data;
	size_t		i = 0;

	while (i < b->len)
	{
		int			len = p[i] < 0x80 ? 1 : (p[i] & 0xe0) == 0xc0 ? 2 :
			(p[i] & 0xf0) == 0xe0 ? 3 : (p[i] & 0xf8) == 0xf0 ? 4 : 0;
		int			ok = len > 0 && i + len <= b->len && p[i] != 0;

		if (len == 2 && ok && p[i] < 0xc2)
			ok = 0;
		for (int k = 1; ok && k < len; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				ok = 0;
		if (ok && len == 3 && ((p[i] == 0xe0 && p[i + 1] < 0xa0) || (p[i] == 0xed && p[i + 1] >= 0xa0)))
			ok = 0;
		if (ok && len == 4 && ((p[i] == 0xf0 && p[i + 1] < 0x90) || p[i] > 0xf4 ||
							   (p[i] == 0xf4 && p[i + 1] >= 0x90)))
			ok = 0;
		if (!ok)
		{
			p[i++] = '?';
			continue;
		}
		i += len;
	}
}

/* Change b in one to four places: bytes, cuts, copies, insertions. */
static void
mutate(Buf *b)
{
	static const char inserts[] = "[],.-+eE0123456789 naifx\t";
	int			rounds = 1 + below(4);

	for (int r = 0; r < rounds && b->len > 0; r++)
	{
		size_t		at = below(b->len);

		switch (below(6))
		{
			case 0:				/* change a byte */
				b->data[at] = one_in(3) ? (char) (1 + below(255)) : inserts[below(sizeof(inserts) - 1)];
				break;
			case 1:				/* cut the end */
				b->len = at;
				b->data[at] = '\0';
				break;
			case 2:				/* delete a range */
				{
					size_t		n = 1 + below(min_size(16, b->len - at));

					memmove(b->data + at, b->data + at + n, b->len - at - n + 1);
					b->len -= n;
					break;
				}
			case 3:				/* duplicate a range */
				{
					size_t		n = 1 + below(min_size(64, b->len - at));
					char	   *copy = malloc(n);

					memcpy(copy, b->data + at, n);
					buf_reserve(b, n);
					memmove(b->data + at + n, b->data + at, b->len - at + 1);
					memcpy(b->data + at, copy, n);
					b->len += n;
					free(copy);
					break;
				}
			default:			/* insert a character or a token */
				{
					Buf			ins = {0};

					if (one_in(2))
						buf_addn(&ins, &inserts[below(sizeof(inserts) - 1)], 1);
					else
						buf_add(&ins, PICK(number_tokens));
					buf_reserve(b, ins.len);
					memmove(b->data + at + ins.len, b->data + at, b->len - at + 1);
					memcpy(b->data + at, ins.data ? ins.data : "", ins.len);
					b->len += ins.len;
					free(ins.data);
					break;
				}
		}
	}
	make_utf8(b);
}

/* A typmod for vector_in: mostly none or the right one. */
static int
gen_typmod(long dims)
{
	static const int odd[] = {0, 1, -2, 16000, 16001, 2147483647, -2147483647 - 1, 65536};

	switch (below(8))
	{
		case 0:
		case 1:
			return (int) dims;
		case 2:
			return (int) dims + (one_in(2) ? 1 : -1);
		case 3:
			return PICK(odd);
		default:
			return -1;
	}
}

/* text vector, text halfvec: grammar, or a mutated valid value */
static void
gen_text(Buf *b, int *mode)
{
	long		n = element_count();

	gen_vector_text(b, n, one_in(2));
	if (one_in(2))
		mutate(b);
	else
		make_utf8(b);
	*mode = gen_typmod(n);
}

/*
 * text sparsevec: '{i:x,...}/dim' with indices in range or not (0,
 * negative, past dim or int32, repeated, not integers), values from the
 * number grammar, odd separators and dimensions; half of them mutated.
 */
static void
gen_sparse_text(Buf *b, int *mode)
{
	static const char *const odd_dims[] = {
		"0", "-1", "1", "16000", "16001", "1000000000", "1000000001", "2147483648",
		"99999999999999999999", "1.5", "1e3", "", " 7 ", "+3", "x",
	};
	static const int odd_mods[] = {1, 3, 1000000000, 1000000001, 0, -2};
	long		dim = one_in(10) ? (long) below(1000000001) : 1 + below(40);
	long		n = one_in(40) ? 15999 + below(3) : below(dim < 20 ? dim + 2 : 20);
	int			good = one_in(2);

	add_space(b);
	buf_add(b, good || !one_in(30) ? "{" : PICK(((const char *[]) {"[", "(", "{{", ""})));
	for (long i = 0; i < n; i++)
	{
		if (i > 0)
			buf_add(b, good || !one_in(100) ? "," : PICK(((const char *[]) {";", " ", ",,", ""})));
		add_space(b);
		if (good || !one_in(10))
			buf_printf(b, "%ld", n > 100 ? i + 1 : 1 + (long) below(dim));
		else
			buf_add(b, PICK(((const char *[]) {"0", "-1", "2147483648", "1.5", "", "a", "99999999999"})));
		add_space(b);
		buf_add(b, good || !one_in(100) ? ":" : PICK(((const char *[]) {"", "::", "=", " "})));
		add_space(b);
		if (good || !one_in(6))
			buf_printf(b, "%.6g", ((double) below(2000001) - 1000000) / 1000.0);
		else
			add_number(b);
	}
	add_space(b);
	buf_add(b, good || !one_in(30) ? "}" : "");
	add_space(b);
	buf_add(b, good || !one_in(30) ? "/" : PICK(((const char *[]) {"", "//", "\\"})));
	if (good || !one_in(8))
		buf_printf(b, "%ld", dim);
	else
		buf_add(b, PICK(odd_dims));
	if (one_in(2))
		mutate(b);
	else
		make_utf8(b);
	*mode = one_in(8) ? PICK(odd_mods) : gen_typmod(dim);
}

/* typmod: the cstring[] of vector_typmod_in, or a cast's modifiers */
static void
gen_typmod_input(Buf *b, int *mode)
{
	static const char *const mods[] = {
		"3", "1", "0", "-1", "16000", "16001", "2147483647", "2147483648", "-2147483648",
		"99999999999999999999", "1.5", "1e3", "abc", "\"3\"", "' 3'", "NULL", "3 ", " 3", "+3",
		"0x10", "",
	};
	int			n = one_in(8) ? below(4) : 1;

	*mode = below(4);
	if (*mode < 2)
		buf_add(b, "{");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			buf_add(b, ",");
		if (*mode >= 2)
			buf_printf(b, "%ld", (long) below(40000) - 10);
		else if (one_in(3))
			buf_printf(b, "%ld", (long) below(40000) - 10);
		else
			buf_add(b, PICK(mods));
	}
	if (*mode < 2)
		buf_add(b, "}");
	if (*mode < 2 && one_in(10))
		mutate(b);
}

/* An avg state: {count, sums...}, often not one the aggregate makes. */
static long
gen_state(Buf *b)
{
	static const char *const counts[] = {
		"0", "1", "2", "3", "-1", "0.5", "1e308", "nan", "inf", "-0", "4503599627370497", "NULL",
	};
	static const char *const sums[] = {
		"0", "1", "-2.5", "1e308", "-1e308", "3.4e38", "1e39", "nan", "inf", "-inf", "NULL", "1e-320",
	};
	long		dims = one_in(300) ? 15999 + below(3) : below(6);

	if (one_in(25))
	{
		buf_add(b, PICK(((const char *[]) {"{}", "{{1,2},{3,4}}", "[0:1]={1,2}", "[2:3]={1,2}",
										   "{{0}}", "[-5:-4]={1,1}"})));
		return dims;
	}
	buf_add(b, "{");
	buf_add(b, one_in(3) ? PICK(counts) : dims == 0 ? "0" : "2");
	for (long i = 0; i < dims; i++)
	{
		buf_add(b, ",");
		if (one_in(6))
			buf_add(b, PICK(sums));
		else
			buf_printf(b, "%ld", (long) below(200) - 100);
	}
	buf_add(b, "}");
	return dims;
}

/* aggregate: a state, with a vector or a second state after '|' */
static void
gen_aggregate(Buf *b, int *mode)
{
	long		dims = gen_state(b);

	*mode = below(5);
	if (*mode == 2 || *mode == 3)
	{
		buf_add(b, "|");
		gen_vector_text(b, one_in(4) ? 1 + below(6) : (dims > 0 && dims <= 16000 ? dims : 3), 1);
	}
	else if (*mode == 4)
	{
		buf_add(b, "|");
		gen_state(b);
	}
}

/* subvector: a value, start and count */
static void
gen_subvector(Buf *b, int *mode)
{
	static const long edges[] = {-2147483647L - 1, 2147483647L, -1, 0, 1, 2, 15999, 16000, 16001};
	long		dims = one_in(500) ? 16000 : 1 + below(12);

	*mode = below(2);
	gen_vector_text(b, dims, 1);
	for (int i = 0; i < 2; i++)
		buf_printf(b, "|%ld", one_in(3) ? PICK(edges) : below(dims + 3) - 1);
}

/* reloptions: name = 'value' pairs; mode picks the access method and type */
static void
gen_reloptions(Buf *b, int *mode)
{
	static const char *const hnsw_names[] = {"m", "ef_construction", "m", "ef_construction", "lists", "fillfactor", "foo"};
	static const char *const spann_names[] = {"lists", "epsilon", "replicas", "lists", "epsilon", "replicas", "m", "bar"};
	static const char *const values[] = {
		"0", "1", "2", "3", "4", "16", "64", "99", "100", "101", "999", "1000", "1001", "65536", "65537",
		"-1", "2147483647", "2147483648", "0.5", "10", "10.0001", "1e-300", "nan", "inf", "-0", "abc", "",
		" 5", "5 ", "on", "0x10", "1e2", "32", "33",
	};
	int			n = below(4);

	*mode = below(4);
	for (int i = 0; i < n; i++)
	{
		const char *name = *mode < 2 ? PICK(hnsw_names) : PICK(spann_names);

		if (i > 0)
			buf_add(b, ", ");
		buf_add(b, name);
		if (one_in(3))
			buf_printf(b, " = '%s'", PICK(values));
		else if (strcmp(name, "epsilon") == 0)
			buf_printf(b, " = '%g'", (double) below(11000) / 1000);
		else
			/* mostly in range: m 2..100, ef_construction 4..1000, lists 0..65536, replicas 1..32 */
			buf_printf(b, " = '%ld'", strcmp(name, "m") == 0 ? below(103) :
					   strcmp(name, "ef_construction") == 0 ? below(1003) :
					   strcmp(name, "lists") == 0 ? (one_in(20) ? below(65538) : below(60)) :
					   below(34));
	}
	if (n == 0)
		buf_add(b, "fillfactor = '90'");
}

/* ------------------------------------------------------------------
 * Outcomes
 * ------------------------------------------------------------------
 */

static int
code_allowed(const Category *cat, const char *code)
{
	const char *p = cat->allowed;

	for (; *p; p += (p[5] == ' ' ? 6 : 5))
		if (strncmp(p, code, 5) == 0)
			return 1;
	return 0;
}

static void
record(Category *cat, const char *code, long count, const char *example)
{
	int			i;

	for (i = 0; i < cat->ncodes; i++)
		if (strcmp(cat->codes[i], code) == 0)
			break;
	if (i == cat->ncodes)
	{
		if (i == MAX_CODES)
			return;
		snprintf(cat->codes[i], sizeof(cat->codes[i]), "%s", code);
		cat->examples[i] = strdup(example ? example : "");
		cat->ncodes++;
		if (!code_allowed(cat, code))
		{
			cat->unexpected++;
			failures++;
			printf("# %s: unexpected %s: %s\n", cat->name, code, example ? example : "");
		}
	}
	cat->counts[i] += count;
}

static void
die_conn(const char *what)
{
	printf("not ok - %s: %s", what, PQerrorMessage(conn));
	printf("# the server crashed or the connection broke\n");
	exit(1);
}

/* ------------------------------------------------------------------
 * Batches through fuzz.run, binary values through a pipeline
 * ------------------------------------------------------------------
 */

/* Append s to b as an element of a text[] literal. */
static void
add_array_element(Buf *b, const char *s)
{
	buf_add(b, b->len > 1 ? ",\"" : "\"");
	for (const char *p = s; *p; p++)
	{
		if (*p == '"' || *p == '\\')
			buf_addn(b, "\\", 1);
		buf_addn(b, p, 1);
	}
	buf_add(b, "\"");
}

static void
run_batch(Category *cat, void (*gen) (Buf *, int *))
{
	Buf			inputs = {0},
				modes = {0},
				one = {0};
	const char *params[3];
	PGresult   *res;

	buf_add(&inputs, "{");
	buf_add(&modes, "{");
	for (int i = 0; i < cat->batch; i++)
	{
		int			mode = -1;

		buf_reset(&one);
		gen(&one, &mode);
		add_array_element(&inputs, one.data);
		buf_printf(&modes, i ? ",%d" : "%d", mode);
		cat->tried++;
		/* keep a batch's text under 8 MB */
		if (inputs.len > 8 * 1024 * 1024)
			break;
	}
	buf_add(&inputs, "}");
	buf_add(&modes, "}");

	params[0] = cat->name;
	params[1] = inputs.data;
	params[2] = modes.data;
	res = PQexecParams(conn, "SELECT code, n, example || coalesce(': ' || message, '') "
					   "FROM fuzz.run($1, $2::text[], $3::int[])",
					   3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		if (PQstatus(conn) != CONNECTION_OK)
			die_conn(cat->name);
		/* the batch as a whole failed: a hang (57014) or worse */
		const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		record(cat, code ? code : "?????", cat->batch, PQresultErrorMessage(res));
	}
	else
		for (int r = 0; r < PQntuples(res); r++)
			record(cat, PQgetvalue(res, r, 0), atol(PQgetvalue(res, r, 1)), PQgetvalue(res, r, 2));
	PQclear(res);
	free(inputs.data);
	free(modes.data);
	free(one.data);
}

/* The bits of one element: mostly ordinary values, some NaN and infinities. */
static uint32_t
gen_element_bits(int half)
{
	static const uint32_t f32[] = {0x7fc00000, 0x7f800001, 0xffffffff, 0x7f800000, 0xff800000,
	0x80000000, 0x00000001, 0x7f7fffff, 0x00800000};
	static const uint32_t f16[] = {0x7e00, 0x7c01, 0xffff, 0x7c00, 0xfc00, 0x8000, 0x0001, 0x7bff, 0x0400};

	if (one_in(20))
		return half ? PICK(f16) : PICK(f32);
	if (one_in(10))
		return (uint32_t) rnd();
	if (half)
		return (uint32_t) (below(0x7800)) | (one_in(2) ? 0x8000 : 0);
	else
	{
		float		f = (float) (below(2000001) - 1000000) / 1000.0f;
		uint32_t	bits;

		memcpy(&bits, &f, sizeof(bits));
		return bits;
	}
}

/* The binary input types, in the order of the categories */
typedef enum BinaryType
{
	BINARY_VECTOR,
	BINARY_HALFVEC,
	BINARY_SPARSEVEC
} BinaryType;

static void
add_int32(Buf *b, uint32_t v)
{
	unsigned char e[4] = {v >> 24, v >> 16, v >> 8, v};

	buf_addn(b, (const char *) e, 4);
}

/* A binary value: header (dim, unused) and elements, often inconsistent. */
static void
gen_binary(Buf *b, int half)
{
	static const long dims_odd[] = {0, 1, 16000, 16001, 32767, 32768, 65535};
	long		dim = one_in(10) ? PICK(dims_odd) : one_in(50) ? 16000 : 1 + below(20);
	long		n = dim;
	int			esize = half ? 2 : 4;
	unsigned char hdr[4];

	hdr[0] = (unsigned char) (dim >> 8);
	hdr[1] = (unsigned char) dim;
	hdr[2] = 0;
	hdr[3] = one_in(20) ? (unsigned char) (1 + below(255)) : 0;
	if (one_in(8))
		n = dim + (one_in(2) ? 1 : -1);
	if (n < 0 || n > 20000)
		n = below(20);
	buf_addn(b, (const char *) hdr, 4);
	for (long i = 0; i < n; i++)
	{
		uint32_t	bits = gen_element_bits(half);
		unsigned char e[4] = {bits >> 24, bits >> 16, bits >> 8, bits};

		buf_addn(b, half ? (const char *) e + 2 : (const char *) e, esize);
	}
	if (one_in(10))
		b->len = below(b->len + 1);	/* truncated anywhere, even in the header */
	else if (one_in(20))
		buf_addn(b, "\x01\x02\x03", 1 + below(3));
}

/*
 * A binary sparsevec: dim, nnz, unused, nnz 0-based indices, nnz values;
 * often unsorted, repeated, out of range, zero, or of the wrong count.
 */
static void
gen_binary_sparse(Buf *b)
{
	static const long dims_odd[] = {0, 1, -1, 16000, 1000000000, 1000000001, 2147483647};
	static const long nnz_odd[] = {-1, 0, 16000, 16001, 1000000};
	long		dim = one_in(10) ? PICK(dims_odd) : 1 + below(30);
	long		nnz = one_in(10) ? PICK(nnz_odd) : below(dim > 0 && dim < 20 ? dim + 1 : 20);
	long		n = nnz < 0 || nnz > 20000 ? below(20) : nnz;
	long		index = 0;

	if (one_in(8))
		n += one_in(2) ? 1 : -1;
	add_int32(b, (uint32_t) dim);
	add_int32(b, (uint32_t) nnz);
	add_int32(b, one_in(20) ? 1 + below(255) : 0);
	for (long i = 0; i < n; i++)
	{
		index += one_in(15) ? -below(3) : 1 + below(3);
		add_int32(b, one_in(30) ? (uint32_t) below(1L << 31) : (uint32_t) (index - 1));
	}
	for (long i = 0; i < n; i++)
		add_int32(b, one_in(10) ? 0 : gen_element_bits(0));
	if (one_in(10))
		b->len = below(b->len + 1);	/* truncated anywhere, even in the header */
	else if (one_in(20))
		buf_addn(b, "\x01\x02\x03", 1 + below(3));
}

static void
gen_binary_value(Buf *b, BinaryType type)
{
	if (type == BINARY_SPARSEVEC)
		gen_binary_sparse(b);
	else
		gen_binary(b, type == BINARY_HALFVEC);
}

static const char binary_suffix[] = {'v', 'h', 's'};

static void
run_binary(Category *cat, BinaryType type)
{
	static const char *const stmts[] = {"fz_plain", "fz_dim1", "fz_dim3", "fz_dim16000"};
	Buf			value = {0};
	int			sent = 0;
	int			done = 0;
	int			synced = 0;

	if (PQenterPipelineMode(conn) != 1)
		die_conn("pipeline mode");
	while (done < cat->batch)
	{
		/* keep at most PIPELINE_DEPTH statements in flight */
		while (sent < cat->batch && sent - done < PIPELINE_DEPTH)
		{
			const char *params[1];
			int			lengths[1];
			int			formats[1] = {1};
			char		name[32];

			buf_reset(&value);
			gen_binary_value(&value, type);
			params[0] = value.data;
			lengths[0] = (int) value.len;
			snprintf(name, sizeof(name), "%s_%c", PICK(stmts), binary_suffix[type]);
			if (!PQsendQueryPrepared(conn, name, 1, params, lengths, formats, 0) ||
				!PQpipelineSync(conn))
				die_conn(cat->name);
			sent++;
		}
		if (PQflush(conn) < 0)
			die_conn(cat->name);
		/* one statement's result, its NULL, then its sync */
		for (;;)
		{
			PGresult   *res = PQgetResult(conn);
			ExecStatusType st;

			if (res == NULL)
			{
				if (PQstatus(conn) != CONNECTION_OK)
					die_conn(cat->name);
				continue;
			}
			st = PQresultStatus(res);
			if (st == PGRES_PIPELINE_SYNC)
			{
				PQclear(res);
				synced++;
				break;
			}
			if (st == PGRES_TUPLES_OK)
				record(cat, "00000", 1, NULL);
			else if (st == PGRES_FATAL_ERROR)
			{
				const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);

				if (PQstatus(conn) != CONNECTION_OK)
					die_conn(cat->name);
				record(cat, code ? code : "?????", 1, PQresultErrorMessage(res));
			}
			else
				record(cat, "?????", 1, PQresStatus(st));
			PQclear(res);
		}
		done = synced;
	}
	if (PQexitPipelineMode(conn) != 1)
		die_conn("leaving pipeline mode");
	cat->tried += cat->batch;
	free(value.data);
}

/* ------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------
 */

static PGresult *
exec_ok(const char *sql)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		printf("not ok - %s: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	return res;
}

/* Prepare the binary statements, for each type and typmod. */
static void
prepare_binary(void)
{
	static const char *const typmods[] = {"", "(1)", "(3)", "(16000)"};
	static const char *const names[] = {"fz_plain", "fz_dim1", "fz_dim3", "fz_dim16000"};
	static const char *const types[] = {"vector", "halfvec", "sparsevec"};
	static const char *const uses[] = {"vector_dims", "vector_dims", "l2_norm"};

	for (int t = 0; t < 3; t++)
	{
		PGresult   *res;
		char		sql[128];
		Oid			oid;

		snprintf(sql, sizeof(sql), "SELECT '%s'::regtype::oid", types[t]);
		res = exec_ok(sql);
		oid = (Oid) atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		for (int m = 0; m < 4; m++)
		{
			char		name[32];

			snprintf(name, sizeof(name), "%s_%c", names[m], binary_suffix[t]);
			snprintf(sql, sizeof(sql), "SELECT %s($1::%s%s)", uses[t], types[t], typmods[m]);
			res = PQprepare(conn, name, sql, 1, &oid);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				printf("not ok - prepare %s: %s", sql, PQerrorMessage(conn));
				exit(1);
			}
			PQclear(res);
		}
	}
}

static void
report(double seconds)
{
	long		total = 0;
	int			tapno = 0;

	for (int c = 0; c < NCATEGORIES; c++)
	{
		Category   *cat = &categories[c];

		total += cat->tried;
		printf("%-15s %9ld inputs %7.0f/s:", cat->name, cat->tried,
			   cat->tried / (cat->seconds > 0 ? cat->seconds : 1));
		for (int i = 0; i < cat->ncodes; i++)
			printf(" %s %ld", strcmp(cat->codes[i], "00000") == 0 ? "accepted" : cat->codes[i],
				   cat->counts[i]);
		printf("\n");
	}
	printf("%ld inputs in %.1f s (%.0f per second)\n", total, seconds, total / seconds);
	for (int c = 0; c < NCATEGORIES; c++)
	{
		Category   *cat = &categories[c];

		printf("%sok %d - fuzz %s: %ld inputs, %d unexpected outcomes\n",
			   cat->unexpected ? "not " : "", ++tapno, cat->name, cat->tried, cat->unexpected);
		for (int i = 0; i < cat->ncodes; i++)
			if (!code_allowed(cat, cat->codes[i]))
				printf("#   %s (%ld times), first: %.400s\n", cat->codes[i], cat->counts[i],
					   cat->examples[i]);
	}
}

int
main(int argc, char **argv)
{
	long		count = 3000000;
	double		seconds = 0;
	uint64_t	seed = (uint64_t) time(NULL);
	char	   *start_time;
	double		t0;
	long		total = 0;
	PGresult   *res;

	for (int i = 1; i + 1 < argc; i += 2)
	{
		if (strcmp(argv[i], "-n") == 0)
			count = atol(argv[i + 1]);
		else if (strcmp(argv[i], "-t") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "-s") == 0)
			seed = strtoull(argv[i + 1], NULL, 10);
		else
		{
			fprintf(stderr, "usage: fuzz_driver [-n COUNT] [-t SECONDS] [-s SEED]\n");
			return 2;
		}
	}
	rng_state = seed ? seed : 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# seed %llu\n", (unsigned long long) seed);

	conn = PQconnectdb("");
	if (PQstatus(conn) != CONNECTION_OK)
		die_conn("connect");
	PQclear(exec_ok("SET statement_timeout = '60s'"));
	res = exec_ok("SELECT pg_postmaster_start_time()");
	start_time = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	prepare_binary();

	t0 = now();
	while (total < count && (seconds <= 0 || now() - t0 < seconds))
	{
		static void (*const gens[]) (Buf *, int *) = {
			gen_text, gen_text, NULL, NULL, gen_typmod_input, gen_aggregate, gen_subvector,
			gen_reloptions, gen_sparse_text, NULL,
		};
		/* the binary type of each category without a generator */
		static const BinaryType binary[] = {
			0, 0, BINARY_VECTOR, BINARY_HALFVEC, 0, 0, 0, 0, 0, BINARY_SPARSEVEC,
		};

		for (int c = 0; c < NCATEGORIES; c++)
		{
			double		start = now();

			if (gens[c])
				run_batch(&categories[c], gens[c]);
			else
				run_binary(&categories[c], binary[c]);
			categories[c].seconds += now() - start;
		}
		total = 0;
		for (int c = 0; c < NCATEGORIES; c++)
			total += categories[c].tried;
	}
	report(now() - t0);

	res = exec_ok("SELECT pg_postmaster_start_time()");
	if (strcmp(PQgetvalue(res, 0, 0), start_time) != 0)
	{
		printf("not ok - the server restarted during the run (a backend crashed)\n");
		failures++;
	}
	else
		printf("ok %d - the server never restarted\n", NCATEGORIES + 1);
	PQclear(res);
	PQfinish(conn);
	return failures ? 1 : 0;
}
