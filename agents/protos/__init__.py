"""ARTF and OpenRTB protocol buffers written from the public specs, and protoc's output."""
