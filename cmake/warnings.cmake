# Warnings are errors for our own C (not for third-party headers, which are
# included as system headers).
function(eryx_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings
    -Wmissing-prototypes -Wstrict-prototypes -Wold-style-definition
    -Wformat=2 -Wimplicit-fallthrough -Wvla -Wnull-dereference
    -Wconversion -Wsign-conversion -Wcast-qual -Wdouble-promotion
    -Wredundant-decls)
endfunction()
