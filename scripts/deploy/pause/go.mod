module odibi-stream/deploy/pause

go 1.22
