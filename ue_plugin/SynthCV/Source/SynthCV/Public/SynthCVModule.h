// SynthCV: UnrealCV commands for synth (see ue_plugin/README.md).
#pragma once

#include "CoreMinimal.h"
#include "Modules/ModuleInterface.h"

class FSynthCommands;

/** Registers the /synth commands with UnrealCV's command dispatcher at start-up (after UnrealCV, which loads
 *  PreDefault; this module loads PostDefault). */
class FSynthCVModule : public IModuleInterface
{
public:
	virtual void StartupModule() override;
	virtual void ShutdownModule() override;

private:
	TSharedPtr<FSynthCommands> Commands;
};
