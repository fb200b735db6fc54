# Makefile for the ann extension (PGXS)

EXTENSION = ann
EXTVERSION = 0.1.0

MODULE_big = ann
OBJS = \
	src/ann.o \
	src/annbuild.o \
	src/anncheck.o \
	src/annfilter.o \
	src/annpage.o \
	src/annplanner.o \
	src/annunread.o \
	src/annutils.o \
	src/bitvec.o \
	src/codes.o \
	src/distance.o \
	src/vector.o \
	src/halfvec.o \
	src/sparsevec.o \
	src/hnsw/hnsw.o \
	src/hnsw/hnswbuild.o \
	src/hnsw/hnswbuildgraph.o \
	src/hnsw/hnswbuildparallel.o \
	src/hnsw/hnswbuildwrite.o \
	src/hnsw/hnswcheck.o \
	src/hnsw/hnswcodes.o \
	src/hnsw/hnswelement.o \
	src/hnsw/hnswfilter.o \
	src/hnsw/hnswgraph.o \
	src/hnsw/hnswinsert.o \
	src/hnsw/hnswscan.o \
	src/hnsw/hnswutils.o \
	src/hnsw/hnswvacuum.o \
	src/spann/spann.o \
	src/spann/ivfflat.o \
	src/spann/spannbuild.o \
	src/spann/spanncheck.o \
	src/spann/spanncluster.o \
	src/spann/spanndirectory.o \
	src/spann/spanninsert.o \
	src/spann/spannkeys.o \
	src/spann/spannscan.o \
	src/spann/spannutils.o \
	src/spann/spannvacuum.o \
	src/spann/spannvectors.o

DATA = sql/ann--$(EXTVERSION).sql

REGRESS = vector_type halfvec_type cast copy btree distance functions aggregate bad_input bit sparsevec hnsw_bit \
	hnsw_sparsevec \
	fuzz hnsw_vector hnsw_halfvec hnsw_codes hnsw_long_keys spann_long_keys spann_vector spann_codes ivfflat ivfflat_bit spann_halfvec spann_split filter opclass cosine_order unread_distance check memory \
	pgvector_examples

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/hnsw -I$(srcdir)/src/spann
# Kernels are compiled for baseline x86-64; SIMD variants use per-function
# target attributes and are chosen at load time (see src/distance.c).
PG_CFLAGS = -std=gnu11
SHLIB_LINK = -lm

EXTRA_CLEAN = test/kernel_check test/binary_client test/bench/kernel_bench test/bench/fmnist test/bench/clustered \
	test/bench/scale tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any of
# our headers changes, or objects disagree about struct layouts.
$(OBJS): $(wildcard $(srcdir)/src/*.h $(srcdir)/src/hnsw/*.h $(srcdir)/src/spann/*.h)

# Standalone programs that link the kernels directly: the SIMD-vs-scalar
# check run by the test suite, the kernel benchmark, and the Fashion-MNIST
# loader of the HNSW benchmark (test/bench/README.md), which also shares
# synth.c's top-k list and binary COPY writers.
KERNEL_PROG_CFLAGS = $(CFLAGS) $(CPPFLAGS) -I$(srcdir)/src
KERNEL_PROG_LIBS = -L$(pkglibdir) -lpgcommon -lpgport -lm
test/kernel_check test/bench/kernel_bench: %: %.c src/distance.c src/distance.h \
		src/codes.c src/codes.h src/popcount.h
	$(CC) $(KERNEL_PROG_CFLAGS) -o $@ $< src/distance.c src/codes.c $(KERNEL_PROG_LIBS)
test/bench/fmnist: %: %.c test/bench/synth.c test/bench/synth.h src/distance.c src/distance.h \
		src/codes.c src/codes.h src/popcount.h
	$(CC) $(KERNEL_PROG_CFLAGS) -pthread -o $@ $< test/bench/synth.c src/distance.c src/codes.c \
		$(KERNEL_PROG_LIBS)

# The extension vector (vector.control, sql/vector--0.8.6.sql): pgvector's
# name, an alias that requires ann, so that pgvector's dumps restore
# (README.md, "Moving from pgvector").  Where a vector.control exists that
# does not require ann, it is pgvector's: install neither file over it,
# and uninstall only ours.
VECTOR_ALIAS_FILES = vector.control sql/vector--0.8.6.sql
vector_control = '$(DESTDIR)$(datadir)/extension/vector.control'
vector_control_is_ours = grep -qx "requires = 'ann'" $(vector_control)

.PHONY: install-vector-alias uninstall-vector-alias
install: install-vector-alias
install-vector-alias: installdirs
	@if [ ! -e $(vector_control) ] || $(vector_control_is_ours); then \
		$(INSTALL_DATA) $(addprefix $(srcdir)/, $(VECTOR_ALIAS_FILES)) '$(DESTDIR)$(datadir)/extension/'; \
	else \
		echo "NOTICE: not installing the extension alias vector: $(vector_control) is another extension's (pgvector's?)" >&2; \
	fi

uninstall: uninstall-vector-alias
uninstall-vector-alias:
	@if [ -e $(vector_control) ] && $(vector_control_is_ours); then \
		rm -f $(addprefix '$(DESTDIR)$(datadir)/extension'/, $(notdir $(VECTOR_ALIAS_FILES))); \
	fi

# The libpq client test/run drives: binary parameters and COPY of the
# types (test/binary_client.c)
test/binary_client: %: %.c
	$(CC) $(CFLAGS) -I$(includedir) -o $@ $< -L$(libdir) -lpq

PROVE_TESTS ?= test/t/*.pl
.PHONY: prove_installcheck
prove_installcheck:
	$(prove_installcheck)

# Synthetic clustered vectors for the spann benchmark: plain C99, no server
# code; -ffp-contract=off keeps the output identical on CPUs with FMA.
test/bench/clustered: %: %.c test/bench/synth.c test/bench/synth.h
	$(CC) -std=c99 -O3 -ffp-contract=off -Wall -Wextra -o $@ $< test/bench/synth.c -lm -lpthread

# The scale data generator (issue 16): the random streams of clustered, and
# ann's L2 kernel for the exact neighbours.
test/bench/scale: %: %.c test/bench/synth.c test/bench/synth.h src/distance.c src/distance.h \
		src/codes.c src/codes.h src/popcount.h
	$(CC) $(KERNEL_PROG_CFLAGS) -ffp-contract=off -pthread -o $@ $< test/bench/synth.c \
		src/distance.c src/codes.c $(KERNEL_PROG_LIBS)
