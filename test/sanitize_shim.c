/*
 * sanitize_shim.c
 *		Preloaded beside libasan by test/sanitize; not part of the extension.
 *
 * The Debian postgres binary is not built with ASan, so the runtime is
 * loaded with LD_PRELOAD and initialises lazily, on the first malloc it
 * intercepts.  In postgres that malloc comes from a shared library's
 * constructor (libgpg-error's) calling bindtextdomain(), which holds
 * glibc's gettext lock (_nl_state_lock) for writing.  At the end of its
 * initialisation ASan looks up the optional symbol swift_demangle with
 * dlsym(); the lookup fails, dlerror() translates its message through
 * gettext, which takes the same lock, and the process deadlocks before
 * main().  Defining the symbol makes the lookup succeed, so dlerror() is
 * never called.  ASan calls it only to demangle Swift names: returning
 * NULL says "not a Swift name".  (ASAN_OPTIONS=symbolize=0 does not help:
 * the lookup happens anyway.)
 */
#include <stddef.h>

char	   *swift_demangle(const char *mangled, size_t length, char *out,
						   size_t *out_length, unsigned flags);

char *
swift_demangle(const char *mangled, size_t length, char *out,
			   size_t *out_length, unsigned flags)
{
	return NULL;
}
