-- Orthanc Lua script: send every stable CT series of one reconstruction kernel to the radiomicgan
-- node, which sends the harmonized series back to this Orthanc as a new series of the same study.
-- Install: "LuaScripts": ["route-to-radiomicgan.lua"] in orthanc.json, with the node registered as
-- the modality "radiomicgan" (see README, "DICOM node"). tests/node/test_orthanc_routing.py runs it.

local KERNEL = 'B30f'            -- the ConvolutionKernel the node's model converts, as DICOM stores it
local NODE = 'radiomicgan'       -- the node's name in DicomModalities

function OnStableSeries(seriesId, tags, metadata)
  local shared = ParseJson(RestApiGet('/series/' .. seriesId .. '/shared-tags?simplify'))
  local imageType = shared['ImageType'] or ''
  -- ORIGINAL only: the harmonized series keep the source's kernel, and must not go round again
  if shared['Modality'] == 'CT' and shared['ConvolutionKernel'] == KERNEL
      and string.sub(imageType, 1, 8) == 'ORIGINAL' then
    print('radiomicgan: routing series ' .. seriesId)
    -- a C-STORE job in the background: a long series does not hold up Orthanc's Lua thread
    RestApiPost('/modalities/' .. NODE .. '/store', DumpJson({Resources = {seriesId}, Synchronous = false}))
  end
end
