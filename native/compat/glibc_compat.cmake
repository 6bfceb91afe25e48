# Portable x86-64 and aarch64 Linux builds (CMakeLists.txt, GROUNDINGGPT_PORTABLE): every library and module
# linked afterwards gets glibc_compat.c, which binds the glibc symbols whose default version is
# newer than 2.28 to their older versions, so the prebuild loads on glibc >= 2.28. On glibc < 2.34
# the pthread and dl functions live in libpthread.so.0 and libdl.so.2: they are named as needed
# (both exist, as empty stubs, on newer glibc). scripts/check-prebuild.mjs verifies the result.
add_library(ggpt_glibc_compat OBJECT "${CMAKE_CURRENT_LIST_DIR}/glibc_compat.c")
set_target_properties(ggpt_glibc_compat PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_link_libraries(ggpt_glibc_compat PUBLIC m)   # the math redirects, also in C-only modules
link_libraries(ggpt_glibc_compat)
add_link_options("LINKER:--push-state,--no-as-needed,-l:libdl.so.2,-l:libpthread.so.0,--pop-state")
