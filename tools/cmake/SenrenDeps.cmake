# Finds Debian's packages of the libraries Senren uses (tools/deps/debian.txt) and
# gives each an imported target. Packages without a CMake config are found with
# pkg-config.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)  # libcrypto: snapshot signatures (common/snapshot_signature.h)
find_package(RocksDB CONFIG REQUIRED)
find_package(SQLiteCpp CONFIG REQUIRED)

pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka rdkafka++)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# cpp-httplib: the daemons' /metrics, /healthz and /readyz endpoint (daemon/).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)

find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
