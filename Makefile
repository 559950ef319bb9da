# migrate_ops — PGXS build
EXTENSION   = migrate_ops
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(EXTENSION).control)

MODULE_big  = migrate_ops
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# Released install scripts ship as they are; the current version's install
# script and the upgrade script to it are assembled from the parts in
# sql/install/ (one per feature), so that a new object is written once.
DATA        = sql/$(EXTENSION)--0.1.0.sql
DATA_built  = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--0.1.0--$(EXTVERSION).sql
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))

# pg_regress: inputs are sql/<test>.sql (everything in sql/ that is not an
# install or upgrade script), expected output in expected/<test>.out.
REGRESS     = $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%,$(sort $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=.

PG_CONFIG  ?= pg_config
CURL_CONFIG ?= curl-config
PG_CPPFLAGS += -I$(srcdir)/src $(shell $(CURL_CONFIG) --cflags) -DMO_VERSION=\"$(EXTVERSION)\"
SHLIB_LINK  += $(shell $(CURL_CONFIG) --libs)

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PostgreSQL's headers are system headers to us: -Wextra applies to our code,
# not to theirs (GCC drops the duplicate -I of an -isystem directory).
override CPPFLAGS := -isystem $(includedir_server) -isystem $(includedir_internal) $(CPPFLAGS)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PARTS)
	cat $^ > $@

# 0.1.0 -> current: the changes to 0.1.0's objects, then every part that is
# new since 0.1.0 (all but the ledger's).
sql/$(EXTENSION)--0.1.0--$(EXTVERSION).sql: sql/upgrade/0.1.0--$(EXTVERSION).sql $(filter-out sql/install/00_%,$(INSTALL_PARTS))
	cat $^ > $@

# Objects depend on every header, so a header change rebuilds what uses it.
$(OBJS): $(wildcard src/*.h)
