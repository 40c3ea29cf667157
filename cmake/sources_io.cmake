# IR v11 files and the op factory's table (it sees every op family).
set(KILN_IO_SOURCES
  cpp/kiln/ops/registry.cpp
  cpp/kiln/io/ir_format.cpp
  cpp/kiln/io/mapped_file.cpp
  cpp/kiln/io/ir_writer.cpp
  cpp/kiln/io/ir_reader.cpp
  cpp/kiln/api.cpp
)
