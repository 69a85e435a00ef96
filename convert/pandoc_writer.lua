-- seedpress's pandoc writer process: one per process that renders editions.
-- Reads requests "<format> <length>\n<JSON AST>" on stdin and answers
-- "ok <length>\n<bytes>" or "error <length>\n<message>" on stdout, so many
-- documents are written by one pandoc instead of one pandoc each.
-- arg[1]: the DOCX reference document.
--
-- The AST comes from seedpress's own document model: it never holds images,
-- raw HTML/TeX or anything else a writer would fetch or pass through. That is
-- checked here too, so this process reads nothing but the reference document.

local options = {
  epub3 = {
    split_level = 1,
    toc_depth = 1,
    template = pandoc.template.compile(pandoc.template.default('epub3')),
  },
  docx = { reference_doc = arg[1] },
}

local function check(doc)
  local found = nil
  local function refuse(element)
    found = found or element.tag
  end
  doc:walk({ Image = refuse, RawBlock = refuse, RawInline = refuse, Figure = refuse })
  if found then
    error('refused: the document holds a ' .. found .. ' element')
  end
end

while true do
  local header = io.stdin:read('l')
  if not header then break end
  local format, length = header:match('^(%S+) (%d+)$')
  local payload = io.stdin:read(tonumber(length) or 0)
  local ok, result = pcall(function()
    if not options[format] then error('unknown format ' .. tostring(format)) end
    local doc = pandoc.read(payload, 'json')
    check(doc)
    return pandoc.write(doc, format, options[format])
  end)
  if not ok then
    result = tostring(result)
    io.stdout:write('error ', #result, '\n', result)
  else
    io.stdout:write('ok ', #result, '\n', result)
  end
  io.stdout:flush()
end
