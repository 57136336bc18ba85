# `make install PREFIX=... [DESTDIR=...]`: liberyx as any C library is
# installed.  The layout, under the prefix:
#   include/eryx.h
#   lib/liberyx.so.X.Y.Z (+ SONAME and dev links), lib/liberyx.a
#   lib/pkgconfig/eryx.pc, lib/cmake/eryx/ (find_package(eryx): eryx::eryx)
#   bin/eryx
#   share/eryx/runtime.wasm, runtime.cwasm, runtime.fuel.cwasm,
#   share/eryx/lib/pythonX.Y/ (the guest's stdlib)
# The library finds share/eryx relative to its own file (host/config/paths.c).
if(ERYX_SANITIZE)
  return() # sanitized builds are for tests, not for installing
endif()

# liberyx.a as installed holds Wasmtime too, so that a static link needs
# only -lcjson -lssl -lcrypto -lpthread -ldl -lm besides it.  It is merged by llvm-ar, not
# GNU ar: GNU ar reads members through the plugins of bfd-plugins/, and
# where LLVMgold is one it claims Rust's objects (they embed LLVM bitcode)
# and indexes none of their symbols, so core, alloc and std went missing
# from the index and a static link failed.  llvm-ar indexes the ELF symbol
# tables, as rustc's own archive writer does.
find_program(ERYX_LLVM_AR NAMES llvm-ar-${ERYX_LLVM_VERSION} llvm-ar REQUIRED)
set(ERYX_FULL_STATIC ${PROJECT_BINARY_DIR}/install/liberyx.a)
add_custom_command(OUTPUT ${ERYX_FULL_STATIC}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${PROJECT_BINARY_DIR}/install
  COMMAND ${CMAKE_COMMAND} -E remove -f ${ERYX_FULL_STATIC}
  COMMAND printf "create %s\\naddlib %s\\naddlib %s\\nsave\\nend\\n"
          ${ERYX_FULL_STATIC} $<TARGET_FILE:eryx> ${ERYX_WASMTIME_LIB}
          | ${ERYX_LLVM_AR} -M
  DEPENDS eryx ${ERYX_WASMTIME_LIB} VERBATIM)
add_custom_target(eryx_full_static ALL DEPENDS ${ERYX_FULL_STATIC})

install(FILES include/eryx.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS eryx_shared EXPORT eryxTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set_target_properties(eryx_shared PROPERTIES EXPORT_NAME eryx)
install(FILES ${ERYX_FULL_STATIC} DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS eryx-cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

get_filename_component(ERYX_GUEST_DIR ${ERYX_RUNTIME_WASM} DIRECTORY)
install(FILES ${ERYX_RUNTIME_WASM} ${ERYX_GUEST_DIR}/runtime.cwasm
              ${ERYX_GUEST_DIR}/runtime.fuel.cwasm
        DESTINATION ${CMAKE_INSTALL_DATADIR}/eryx)
# A runtime.cwasm is accepted only for the runtime.wasm it was made from,
# known by size and mtime to the nanosecond (host/engine/cache.c); CMake
# keeps only whole seconds of the mtime, so the installed runtime.cwasm
# would be stale.  touch -r copies the full timestamp.
install(CODE "execute_process(COMMAND touch -r \"${ERYX_RUNTIME_WASM}\"
  \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DATADIR}/eryx/runtime.wasm\"
  COMMAND_ERROR_IS_FATAL ANY)")
install(DIRECTORY ${ERYX_STDLIB_DIR}/
  DESTINATION ${CMAKE_INSTALL_DATADIR}/eryx/lib/python${ERYX_PYTHON_MAJOR_MINOR}
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE
                        GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

# pkg-config: `cc app.c $(pkg-config --cflags --libs eryx)`.
configure_file(cmake/eryx.pc.in ${PROJECT_BINARY_DIR}/eryx.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/eryx.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake: find_package(eryx) gives eryx::eryx (the shared library).
include(CMakePackageConfigHelpers)
install(EXPORT eryxTargets NAMESPACE eryx::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/eryx)
configure_package_config_file(cmake/eryxConfig.cmake.in
  ${PROJECT_BINARY_DIR}/eryxConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/eryx)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/eryxConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/eryxConfig.cmake
              ${PROJECT_BINARY_DIR}/eryxConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/eryx)
